"""The audit trail: who changed what and when, through which door, for pools, partners, API
keys, memberships, wallets, credits and alert channels — from the API, the admin, and jobs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from alerts.models import AlertChannel
from partners.models import APIKey, Membership, Partner, PartnerWallet, Role
from partners.tests.factories import APIKeyFactory, CustomerFactory, UserFactory, raw_key_for
from pools.models import EnergyPool
from pools.services.onboarding import pool_set_status
from pools.tests.factories import EnergyPoolFactory
from tests.test_admin import verified_client
from withdrawals.models import Credit

pytestmark = pytest.mark.django_db


def test_an_api_change_records_the_key_the_door_and_the_request(partner):
    from rest_framework.test import APIClient

    pool = EnergyPoolFactory(partner=partner, label="before")
    key = APIKeyFactory(partner=partner, role=Role.OWNER)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key_for(key.prefix)}")
    response = client.patch(f"/api/v1/pools/{pool.pk}/", {"label": "after"}, format="json")
    assert response.status_code == 200, response.content
    change = EnergyPool.history.filter(id=pool.pk).latest("history_date")
    assert (change.history_type, change.label) == ("~", "after")
    assert (change.source, change.api_key_prefix) == ("api", key.prefix)
    assert change.request_id == response["X-Request-ID"]
    assert change.history_user is None  # a key, not a person
    assert change.prev_record.label == "before"


def test_a_staff_sessions_change_records_the_person(owner_client, owner, partner):
    response = owner_client.patch(
        "/api/v1/partners/me/", {"warning_threshold": "85.00"}, format="json"
    )
    assert response.status_code == 200, response.content
    change = Partner.history.filter(id=partner.pk).latest("history_date")
    assert change.warning_threshold == Decimal("85.00")
    assert (change.history_user, change.source, change.api_key_prefix) == (owner.user, "api", "")


def test_an_admin_action_records_the_operator():
    staff = UserFactory(username="ops", is_staff=True, is_superuser=True)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    key = APIKeyFactory()
    client = verified_client(staff, device)
    response = client.post(
        "/admin/partners/apikey/",
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    assert response.status_code == 302
    change = APIKey.history.filter(id=key.pk).latest("history_date")
    assert change.revoked_at is not None
    assert (change.history_user, change.source) == (staff, "admin")
    page = client.get("/admin/partners/historicalapikey/")
    assert page.status_code == 200
    assert key.prefix in page.content.decode()


def test_jobs_and_commands_are_recorded_as_the_system(partner):
    pool = EnergyPoolFactory(partner=partner)
    pool_set_status(pool=pool, status=EnergyPool.Status.PAUSED)
    change = EnergyPool.history.filter(id=pool.pk).latest("history_date")
    assert (change.status, change.source, change.history_user) == ("paused", "system", None)


def test_credits_memberships_wallets_and_channels_are_recorded(partner, key_client):
    customer = CustomerFactory(partner=partner)
    response = key_client.post(
        f"/api/v1/users/{customer.pk}/credits",
        {"amount": "5", "currency": "USDT"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="deposit-1",
    )
    assert response.status_code in (200, 201), response.content
    credit = Credit.history.get(customer_id=customer.pk)
    assert (credit.history_type, credit.amount, credit.source) == ("+", Decimal("5"), "api")
    member = Membership.objects.create(user=UserFactory(), partner=partner, role=Role.VIEWER)
    member.role = Role.OPERATOR
    member.save()
    assert [h.role for h in Membership.history.filter(id=member.pk).order_by("history_date")] == [
        "viewer",
        "operator",
    ]
    wallet = PartnerWallet.objects.create(partner=partner, address=EnergyPoolFactory().address)
    assert PartnerWallet.history.filter(id=wallet.pk).count() == 1
    channel = AlertChannel.objects.create(
        partner=partner, name="ops", kind="apprise", target="json://token-abc@host"
    )
    assert AlertChannel.history.filter(id=channel.pk).count() == 1


def test_secrets_stay_out_of_the_history():
    fields = {
        Partner: "webhook_secret",
        APIKey: "hashed_key",
        AlertChannel: "target",
    }
    for model, secret in fields.items():
        names = {f.name for f in model.history.model._meta.get_fields()}
        assert secret not in names, (model, secret)
        assert {"source", "api_key_prefix", "request_id", "history_user"} <= names
