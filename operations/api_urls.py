"""The operations app's API under /api/v1/: health and status, and the job runs and leases
under batch/ (seed endpoint names kept)."""

from django.urls import path

from operations import apis, batch_apis

app_name = "operations-api"

urlpatterns = [
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
    path("batch/executions/recent", batch_apis.RecentRunsApi.as_view(), name="runs-recent"),
    path("batch/executions/stats", batch_apis.RunStatsApi.as_view(), name="runs-stats"),
    path(
        "batch/jobs/<slug:job>/lock/status", batch_apis.LeaseStatusApi.as_view(), name="lock-status"
    ),
    path(
        "batch/jobs/<slug:job>/lock/release",
        batch_apis.LeaseReleaseApi.as_view(),
        name="lock-release",
    ),
    path("batch/locks/expired", batch_apis.ExpiredLeasesApi.as_view(), name="locks-expired"),
    path("batch/locks/cleanup", batch_apis.LeaseCleanupApi.as_view(), name="locks-cleanup"),
]
