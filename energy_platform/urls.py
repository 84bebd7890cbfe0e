"""URL routes: admin (with a second factor), partner API, health probes, user pages."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from common.views import metrics
from dashboard.views import console_acknowledge, console_page, partner_dashboard_page
from operations.urls import api_urlpatterns as health_api
from operations.urls import batch_urlpatterns as batch_api
from operations.urls import probe_urlpatterns as probes

# Every admin page requires a user verified by a TOTP device or a backup code.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "Energy Platform — operators' console"
admin.site.site_title = "Energy Platform"

api_v1: list[URLPattern | URLResolver] = [
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("partners/", include("partners.urls")),
    path("pools/", include("pools.urls")),
    path("wallets/", include("pools.wallet_api_urls")),
    path("", include("pools.energy_urls")),
    path("", include("pools.rental_urls")),
    path("", include("dashboard.urls")),
    path("", include("predictions.urls")),
    path("", include("withdrawals.api_urls")),
    path("", include("alerts.urls")),
    path("", include((health_api, "health"))),
    path("batch/", include((batch_api, "batch"))),
]

urlpatterns = [
    # The operators' console: admin_view admits verified staff only (OTPAdminSite).
    path("admin/console/", admin.site.admin_view(console_page), name="console"),
    path(
        "admin/console/alerts/<int:alert_id>/acknowledge",
        admin.site.admin_view(console_acknowledge),
        name="console-acknowledge",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("health/", include((probes, "probes"))),
    path("metrics", metrics, name="metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("dashboard/", partner_dashboard_page, name="partner-dashboard"),
    path("partner/wallets/", include("pools.wallet_urls")),
    path("", include("withdrawals.urls")),
]

handler400 = "common.views.bad_request"
handler404 = "common.views.not_found"
