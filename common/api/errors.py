"""One error shape for every 4xx the API returns.

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"amount": ["..."]}}}

`fields` is present only for validation errors, a serializer's or a service's (Django's
`ValidationError`); its keys are input field names (`non_field_errors` for errors about the
request as a whole).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from common.errors import DependencyUnavailable
from common.idempotency import (
    IdempotencyError,
    IdempotencyInFlight,
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    IdempotencyMismatch,
)

logger = logging.getLogger(__name__)


def error_body(
    *, status_code: int, code: str, message: str, fields: dict[str, Any] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"status": status_code, "code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    return {"error": error}


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


class IdempotencyKeyInFlightError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = IdempotencyInFlight.default_message
    default_code = "idempotency_key_in_flight"


class IdempotencyKeyReusedError(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = IdempotencyMismatch.default_message
    default_code = "idempotency_key_reused"


def _idempotency_exception(exc: IdempotencyError) -> exceptions.APIException:
    """The one place an idempotency refusal becomes an HTTP answer (`common/idempotency.py`)."""
    if isinstance(exc, IdempotencyInFlight):
        return IdempotencyKeyInFlightError(exc.message)
    if isinstance(exc, IdempotencyMismatch):
        return IdempotencyKeyReusedError(exc.message)
    assert isinstance(exc, IdempotencyKeyMissing | IdempotencyKeyInvalid)
    return exceptions.ValidationError({"idempotency_key": [exc.message]})


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, reshaped; anything DRF does not handle stays a 500."""
    if isinstance(exc, IdempotencyError):
        exc = _idempotency_exception(exc)
    if isinstance(exc, OperationalError):
        # The database is unreachable, the pool is exhausted, or a deadlock or timeout
        # ended the transaction: nothing was committed, and a retry may well succeed.
        logger.warning("database unavailable for %s", context.get("view"), exc_info=exc)
        exc = DependencyUnavailable("database")
    if isinstance(exc, DependencyUnavailable):
        return Response(
            error_body(
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                code="dependency_unavailable",
                message="A service the platform depends on is unavailable; try again shortly.",
            ),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "10"},
        )
    if isinstance(exc, DjangoValidationError):
        # A service's own validation: the same 400, with the same field errors, as a serializer's.
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, IdempotencyKeyInFlightError):
        response["Retry-After"] = "1"
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        invalid = exc.detail
        fields = (
            _flatten(invalid)
            if isinstance(invalid, dict)
            else {"non_field_errors": _flatten(invalid if isinstance(invalid, list) else [invalid])}
        )
        response.data = error_body(
            status_code=response.status_code,
            code="invalid",
            message="The request has invalid fields.",
            fields=fields,
        )
    else:
        detail = exc.detail
        message = str(detail) if not isinstance(detail, list | dict) else str(_flatten(detail))
        codes = exc.get_codes()
        response.data = error_body(
            status_code=response.status_code,
            code=codes if isinstance(codes, str) else exc.default_code,
            message=message,
        )
    return response


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's 404 for unrouted `/api/` paths, in the API's error shape."""
    return JsonResponse(
        error_body(status_code=status.HTTP_404_NOT_FOUND, code="not_found", message="Not found."),
        status=status.HTTP_404_NOT_FOUND,
    )


def json_bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's 400 (a body it could not parse) for `/api/` paths, in the API's error shape."""
    return JsonResponse(
        error_body(
            status_code=status.HTTP_400_BAD_REQUEST,
            code="parse_error",
            message="The request could not be parsed.",
        ),
        status=status.HTTP_400_BAD_REQUEST,
    )
