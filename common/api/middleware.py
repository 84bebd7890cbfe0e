"""Refusals that must happen before any view runs."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import status

from common.api.errors import error_body


class StrictQueryStringMiddleware:
    """Under /api/: a query string holding a NUL (which no database column takes) is a 400
    in the API's error shape, whichever view it was meant for."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/") and any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            return JsonResponse(
                error_body(
                    status_code=status.HTTP_400_BAD_REQUEST,
                    code="parse_error",
                    message="The query string holds a NUL character.",
                ),
                status=status.HTTP_400_BAD_REQUEST,
            )
        return self.get_response(request)
