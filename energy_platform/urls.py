"""URL routes: admin (with a second factor), partner API, health probes, user pages."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

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
    path("", include("pools.energy_urls")),
    path("", include("predictions.urls")),
    path("", include("withdrawals.api_urls")),
    path("", include((health_api, "health"))),
    path("batch/", include((batch_api, "batch"))),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("health/", include((probes, "probes"))),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("withdrawals.urls")),
]

handler404 = "common.views.not_found"
