"""Project-wide error pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import page_not_found

from common.api.errors import json_bad_request, json_not_found


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON in the API's error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    return page_not_found(request, exception or Exception("Not found"))


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A request Django itself refused (a malformed multipart body read by the CSRF check,
    say): JSON in the API's error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return json_bad_request(request, exception)
    return django_bad_request(request, exception or Exception("Bad request"))
