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
