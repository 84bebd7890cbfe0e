"""Fixtures shared by every test: personas, API clients, real services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from partners.models import Membership, Partner, Role
from partners.tests.factories import (
    APIKeyFactory,
    MembershipFactory,
    PartnerFactory,
    raw_key_for,
)
from tron_devnet.testing import RunningDevnet, devnet_server


def pytest_configure(config: pytest.Config) -> None:
    if not settings.TESTING:
        raise pytest.UsageError("Run the tests with TESTING=1 (make test sets it).")


@pytest.fixture(autouse=True)
def _require_postgresql(request: pytest.FixtureRequest) -> None:
    """Database tests run on PostgreSQL, the production engine, never on SQLite."""
    if "django_db_setup" in request.fixturenames and connection.vendor != "postgresql":
        pytest.fail("tests must run against PostgreSQL: set DATABASE_URL (make test does)")


@pytest.fixture
def partner(db: None) -> Partner:
    return PartnerFactory(name="Acme Wallet", slug="acme")


@pytest.fixture
def other_partner(db: None) -> Partner:
    return PartnerFactory(name="Outsider Exchange", slug="outsider")


@pytest.fixture
def owner(partner: Partner) -> Membership:
    return MembershipFactory(partner=partner, role=Role.OWNER, user__username="owner")


@pytest.fixture
def operator(partner: Partner) -> Membership:
    return MembershipFactory(partner=partner, role=Role.OPERATOR, user__username="operator")


@pytest.fixture
def viewer(partner: Partner) -> Membership:
    return MembershipFactory(partner=partner, role=Role.VIEWER, user__username="viewer")


@pytest.fixture
def outsider(other_partner: Partner) -> Membership:
    return MembershipFactory(partner=other_partner, role=Role.OWNER, user__username="outsider")


def _session_client(membership: Membership) -> APIClient:
    client = APIClient()
    client.force_login(membership.user)
    return client


@pytest.fixture
def owner_client(owner: Membership) -> APIClient:
    return _session_client(owner)


@pytest.fixture
def viewer_client(viewer: Membership) -> APIClient:
    return _session_client(viewer)


@pytest.fixture
def outsider_client(outsider: Membership) -> APIClient:
    return _session_client(outsider)


@pytest.fixture
def key_client(partner: Partner) -> APIClient:
    """The partner's operator API key."""
    key = APIKeyFactory(partner=partner, role=Role.OPERATOR)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key_for(key.prefix)}")
    return client


@pytest.fixture
def outsider_key_client(other_partner: Partner) -> APIClient:
    key = APIKeyFactory(partner=other_partner, role=Role.OPERATOR)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key_for(key.prefix)}")
    return client


@pytest.fixture(scope="session")
def devnet_session() -> Iterator[RunningDevnet]:
    """One in-process TRON devnet per test process (manual block mode)."""
    with devnet_server() as devnet:
        yield devnet


@pytest.fixture
def devnet(devnet_session: RunningDevnet, settings: Any) -> RunningDevnet:
    """A fresh devnet state, with the platform pointed at it."""
    devnet_session.clear_faults()
    devnet_session.reset()
    settings.TRON_NODE_URLS = [devnet_session.url]
    return devnet_session


def verified_staff_client() -> APIClient:
    """A staff user's API session, verified by a TOTP device (the admins' second factor)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from partners.tests.factories import UserFactory

    user = UserFactory(is_staff=True)
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    client = APIClient()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def staff_client(db: None) -> APIClient:
    return verified_staff_client()


def wait_for_a_blocked_query(timeout: float = 10.0, *, at_least: int = 1) -> None:
    """Return once another session of this test database (`at_least` of them) waits on a
    row lock (for tests that interleave transactions without guessing at sleeps)."""
    import time

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            row = cursor.fetchone()
            if row and row[0] >= at_least:
                return
            time.sleep(0.01)
    raise AssertionError("no query blocked on a lock in time")
