"""The dashboard app's pages (its API is in api_urls.py): the operations console inside the
admin, for verified staff only (`admin_view`: OTPAdminSite, energy_platform/urls.py), and
the partner dashboard. Included before the admin's own URLs, which would otherwise take
/admin/console/."""

from django.contrib import admin
from django.urls import path

from dashboard.views import console_acknowledge, console_page, partner_dashboard_page

app_name = "dashboard"

urlpatterns = [
    path("admin/console/", admin.site.admin_view(console_page), name="console"),
    path(
        "admin/console/alerts/<int:alert_id>/acknowledge",
        admin.site.admin_view(console_acknowledge),
        name="console-acknowledge",
    ),
    path("dashboard/", partner_dashboard_page, name="partner-dashboard"),
]
