"""Project-wide error pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.defaults import page_not_found

from common.api.errors import json_not_found


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON in the API's error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    return page_not_found(request, exception or Exception("Not found"))
