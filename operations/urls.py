from django.urls import path

from operations import apis, batch_apis

app_name = "operations"

probe_urlpatterns = [
    path("live", apis.LiveApi.as_view(), name="live"),
    path("ready", apis.ReadyApi.as_view(), name="ready"),
]

api_urlpatterns = [
    path("health", apis.HealthApi.as_view(), name="health"),
    path("health/comprehensive", apis.HealthComprehensiveApi.as_view(), name="health-all"),
    path(
        "health/database",
        apis.HealthComponentApi.as_view(component="database"),
        name="health-database",
    ),
    path("health/redis", apis.HealthComponentApi.as_view(component="redis"), name="health-redis"),
    path(
        "health/celery", apis.HealthComponentApi.as_view(component="celery"), name="health-celery"
    ),
    path("health/tron", apis.HealthComponentApi.as_view(component="tron"), name="health-tron"),
    path("status", apis.StatusApi.as_view(), name="status"),
]

batch_urlpatterns = [
    path("executions/recent", batch_apis.RecentRunsApi.as_view(), name="runs-recent"),
    path("executions/stats", batch_apis.RunStatsApi.as_view(), name="runs-stats"),
    path("jobs/<slug:job>/lock/status", batch_apis.LeaseStatusApi.as_view(), name="lock-status"),
    path("jobs/<slug:job>/lock/release", batch_apis.LeaseReleaseApi.as_view(), name="lock-release"),
    path("locks/expired", batch_apis.ExpiredLeasesApi.as_view(), name="locks-expired"),
    path("locks/cleanup", batch_apis.LeaseCleanupApi.as_view(), name="locks-cleanup"),
]
