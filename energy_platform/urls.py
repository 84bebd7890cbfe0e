"""URL routes: admin (with a second factor), each app's API under /api/v1/ and its pages."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from common.views import metrics

# Every admin page requires a user verified by a TOTP device or a backup code.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "Energy Platform — operators' console"
admin.site.site_title = "Energy Platform"

# One convention across apps (docs/architecture.md): `<app>/api_urls.py` holds an app's API
# paths relative to /api/v1/, `<app>/urls.py` its pages relative to the site root.
API_APPS = ["partners", "pools", "predictions", "alerts", "withdrawals", "dashboard", "operations"]
PAGE_APPS = ["pools", "operations", "withdrawals"]  # and dashboard, first (below)

api_v1: list[URLPattern | URLResolver] = [
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    *(path("", include(f"{app}.api_urls")) for app in API_APPS),
]

urlpatterns = [
    # The dashboard's pages first: its operations console lives under /admin/console/.
    path("", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("metrics", metrics, name="metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    *(path("", include(f"{app}.urls")) for app in PAGE_APPS),
]

handler400 = "common.views.bad_request"
handler404 = "common.views.not_found"
