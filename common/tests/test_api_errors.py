"""The API's exception handler: a service's Django ValidationError is a 400 like a serializer's."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError

from common.api.errors import api_exception_handler


def test_a_service_field_error_is_a_400_with_its_fields() -> None:
    exc = DjangoValidationError({"amount": ["More than the balance."]})

    response = api_exception_handler(exc, {})

    assert response is not None
    assert response.status_code == 400
    assert response.data == {
        "error": {
            "status": 400,
            "code": "invalid",
            "message": "The request has invalid fields.",
            "fields": {"amount": ["More than the balance."]},
        }
    }


def test_a_service_error_without_a_field_is_about_the_whole_request() -> None:
    response = api_exception_handler(DjangoValidationError("Already broadcast."), {})

    assert response is not None
    assert response.status_code == 400
    assert response.data["error"]["fields"] == {"non_field_errors": ["Already broadcast."]}


def test_an_unreachable_database_is_a_503_to_retry() -> None:
    """A pool that ran dry (or a database that went away) ends the request, not the client."""
    exc = OperationalError("couldn't get a connection after 10.00 sec")

    response = api_exception_handler(exc, {})

    assert response is not None
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.data["error"]["code"] == "dependency_unavailable"
