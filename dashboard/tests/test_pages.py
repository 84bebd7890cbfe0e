"""The pages: the partner dashboard (partner staff, own partner only) and the operators'
console (staff verified by a second factor), each with its outsiders."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from partners.tests.factories import CustomerFactory, UserFactory
from pools.models import EnergyPool
from pools.tests.factories import EnergyPoolFactory

pytestmark = pytest.mark.django_db


def session(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def verified_staff() -> Client:
    user = UserFactory(is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = session(user)
    s = client.session
    s[DEVICE_ID_SESSION_KEY] = device.persistent_id
    s.save()
    return client


@pytest.mark.parametrize("persona", ["owner", "operator", "viewer"])
def test_partner_staff_see_their_own_pools_only(request, persona, partner, other_partner):
    membership = request.getfixturevalue(persona)
    EnergyPoolFactory(partner=partner, label="our pool")
    EnergyPoolFactory(partner=other_partner, label="their pool")
    response = session(membership.user).get("/dashboard/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "our pool" in page
    assert "their pool" not in page
    assert "dashboard/vendor/chart.umd.min.js" in page
    assert f"/api/v1/energy/dashboard/{partner.pk}" in page


def test_outsider_sees_only_their_own_partner(outsider, partner):
    EnergyPoolFactory(partner=partner, label="our pool")
    page = session(outsider.user).get("/dashboard/").content.decode()
    assert "our pool" not in page
    assert f"/api/v1/energy/dashboard/{partner.pk}" not in page


def test_anonymous_is_sent_to_log_in(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/dashboard/")


def test_a_customer_has_no_dashboard(partner):
    customer = CustomerFactory(partner=partner)
    assert session(customer.user).get("/dashboard/").status_code == 404


def test_the_dashboard_speaks_korean(owner):
    client = session(owner.user)
    page = client.get("/dashboard/", headers={"accept-language": "ko"}).content.decode()
    assert "대기열" in page  # "Queue"


def test_console_shows_every_partners_pools_to_verified_staff(partner, other_partner):
    EnergyPoolFactory(partner=partner, label="our pool")
    EnergyPoolFactory(partner=other_partner, label="their pool", status=EnergyPool.Status.PAUSED)
    client = verified_staff()
    page = client.get("/admin/console/").content.decode()
    assert "our pool" in page
    assert "their pool" in page
    filtered = client.get(f"/admin/console/?partner={partner.pk}&status=active")
    assert filtered.status_code == 200
    assert "their pool" not in filtered.content.decode()
    assert f"/api/v1/energy/global/dashboard?partner={partner.pk}" in filtered.content.decode()


@pytest.mark.parametrize("query", ["?status=sleeping", "?partner=999999", "?partner=x"])
def test_console_bad_filters_are_400(query):
    response = verified_staff().get(f"/admin/console/{query}")
    assert response.status_code == 400
    assert 'id="filter-errors"' in response.content.decode()


def test_console_refuses_staff_without_second_factor_and_partner_staff(owner):
    staff = UserFactory(is_staff=True, is_superuser=True)
    for client in (session(staff), session(owner.user), Client()):
        response = client.get("/admin/console/")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def _ack(alert_id: int) -> str:
    return f"/admin/console/alerts/{alert_id}/acknowledge"


def test_console_acknowledges_an_alert_in_place(partner, owner):
    from django.utils import timezone

    from alerts.tests.factories import EnergyAlertFactory

    alert = EnergyAlertFactory(partner=partner)
    staff = verified_staff()
    page = staff.get("/admin/console/").content.decode()
    assert f'data-ack="{alert.pk}"' in page  # a button per open alert, with the CSRF token
    assert '"ackUrl": "/admin/console/alerts/0/acknowledge"' in page
    # Partner staff, unverified staff and strangers cannot; a GET changes nothing.
    unverified = session(UserFactory(is_staff=True, is_superuser=True))
    for client in (session(owner.user), unverified, Client()):
        assert client.post(_ack(alert.pk)).status_code in (302, 403)
    assert staff.get(_ack(alert.pk)).status_code == 405
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    # Without the CSRF token the post is refused.
    strict = verified_staff()
    strict.handler.enforce_csrf_checks = True
    assert strict.post(_ack(alert.pk)).status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    # The page's script: JSON back, acknowledged through the service.
    response = staff.post(_ack(alert.pk), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None
    assert alert.acknowledged_by_label == response.wsgi_request.user.get_username()
    assert response.json()["id"] == alert.pk
    assert f'data-ack="{alert.pk}"' not in staff.get("/admin/console/").content.decode()
    # A resolved alert is a 400; an unknown one a 404.
    resolved = EnergyAlertFactory(partner=partner, resolved_at=timezone.now())
    assert staff.post(_ack(resolved.pk), HTTP_ACCEPT="application/json").status_code == 400
    resolved.refresh_from_db()
    assert resolved.acknowledged_at is None
    assert staff.post(_ack(10**9)).status_code == 404
