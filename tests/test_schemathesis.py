"""Schemathesis over the OpenAPI schema, in process, with an owner's API key: generated
requests for every operation never get a server error, and every answer with a documented
status matches the schema."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from partners.models import Role
from partners.tests.factories import APIKeyFactory, raw_key_for

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())


@pytest.fixture
def in_process():
    """Requests go through the WSGI handler in this thread, inside the test's transaction:
    keep Django from closing that connection around each request, as its test client does."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def owner_headers(partner, devnet, in_process):
    key = APIKeyFactory(partner=partner, role=Role.OWNER)
    return {"Authorization": f"Api-Key {raw_key_for(key.prefix)}", "X-Forwarded-Proto": "https"}


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_answers_match_the_schema(case, owner_headers):
    case.call_and_validate(
        headers=owner_headers, checks=[not_a_server_error, response_schema_conformance]
    )
