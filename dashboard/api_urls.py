"""Dashboard and analytics endpoints under /api/v1/ (seed document 000's names)."""

from django.urls import path

from dashboard import apis

app_name = "dashboard-api"

urlpatterns = [
    path("energy/dashboard/<int:partner_id>", apis.EnergyDashboardApi.as_view(), name="dashboard"),
    path("energy/analytics/<int:partner_id>", apis.EnergyAnalyticsApi.as_view(), name="analytics"),
    path("energy/global/analytics", apis.GlobalAnalyticsApi.as_view(), name="global-analytics"),
    path("energy/global/dashboard", apis.GlobalDashboardApi.as_view(), name="global-dashboard"),
]
