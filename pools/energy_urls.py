"""Energy reads and actions under /api/v1/ (seed endpoint names kept)."""

from django.urls import path

from pools.apis import energy

app_name = "energy"

urlpatterns = [
    path("energy/monitor/<int:partner_id>", energy.EnergyMonitorApi.as_view(), name="monitor"),
    path("energy/usage-logs/<int:partner_id>", energy.UsageLogListApi.as_view(), name="usage-logs"),
    path("energy/update/<int:partner_id>", energy.EnergyUpdateApi.as_view(), name="update"),
    path("energy/overview", energy.EnergyOverviewApi.as_view(), name="overview"),
    path("energy/prices", energy.PricesApi.as_view(), name="prices"),
    path("energy/shares", energy.ShareListApi.as_view(), name="shares"),
    path("admin/energy/status", energy.AdminEnergyStatusApi.as_view(), name="admin-status"),
    path("admin/energy/create-pool", energy.AdminCreatePoolApi.as_view(), name="admin-create-pool"),
]
