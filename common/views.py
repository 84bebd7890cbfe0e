"""Project-wide error pages and the metrics endpoint."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import page_not_found

from common.api.errors import json_bad_request, json_not_found
from common.metrics import metrics_render


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON in the API's error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    return page_not_found(request, exception or Exception("Not found"))


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape endpoint: `Authorization: Bearer <METRICS_TOKEN>`. Without a
    configured token the endpoint does not exist (404), so nothing is exposed by default."""
    expected: str = settings.METRICS_TOKEN
    if not expected:
        raise Http404("metrics are not enabled")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        return HttpResponse("unauthorized\n", status=401, content_type="text/plain")
    body, content_type = metrics_render()
    return HttpResponse(body, content_type=content_type)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A request Django itself refused (a malformed multipart body read by the CSRF check,
    say): JSON in the API's error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return json_bad_request(request, exception)
    return django_bad_request(request, exception or Exception("Bad request"))
