"""The operations app's pages: the health probes under /health/ (its API is in api_urls.py)."""

from django.urls import path

from operations import apis

app_name = "operations"

urlpatterns = [
    path("health/live", apis.LiveApi.as_view(), name="live"),
    path("health/ready", apis.ReadyApi.as_view(), name="ready"),
]
