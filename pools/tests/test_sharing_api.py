"""Energy sharing's settings and records in the API: the partner's off switch, limits and
lock, a pool's priority, the loans list with its reasons and operations (scoped)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from partners.models import Partner
from partners.tests.factories import PartnerFactory
from pools.models import EnergyPool, EnergyShare, ReserveGrant, StakingOperation
from pools.tests.factories import EnergyPoolFactory

pytestmark = pytest.mark.django_db


def loan(partner: Partner, *, state: str = "active", reason: str = "pool short") -> EnergyShare:
    donor = EnergyPoolFactory(partner=partner)
    receiver = EnergyPoolFactory(partner=partner)
    op = StakingOperation.objects.create(
        pool=donor,
        kind="delegate",
        amount_sun=5_000_000,
        receiver=receiver.address,
        txid=f"{donor.pk:064x}",
        signed_transaction={},
        expiration=timezone.now(),
        state="confirmed",
        reason=reason,
    )
    return EnergyShare.objects.create(
        partner=partner,
        donor=donor,
        receiver=receiver,
        amount_sun=5_000_000,
        energy=75_000,
        state=state,
        reason=reason,
        delegate_operation=op,
    )


def test_loans_are_listed_with_their_reasons_for_their_partner_only(
    key_client, partner, other_partner
):
    mine = loan(partner, reason="pool 1 short (queue waiting)")
    loan(other_partner, reason="secret")
    body = key_client.get("/api/v1/energy/shares").json()
    assert [row["id"] for row in body["results"]] == [mine.pk]
    row = body["results"][0]
    assert row["reason"] == "pool 1 short (queue waiting)"
    assert row["delegate_operation"]["reason"] == "pool 1 short (queue waiting)"
    assert row["delegate_operation"]["kind"] == "delegate"
    assert row["undelegate_operation"] is None
    assert "secret" not in str(body)
    by_pool = key_client.get("/api/v1/energy/shares", {"pool": mine.receiver_id}).json()
    assert [r["id"] for r in by_pool["results"]] == [mine.pk]
    assert key_client.get("/api/v1/energy/shares", {"state": "returned"}).json()["count"] == 0
    bad = key_client.get("/api/v1/energy/shares", {"state": "lent"})
    assert bad.status_code == 400
    assert "state" in bad.json()["error"]["fields"]
    ops = key_client.get(f"/api/v1/pools/{mine.donor_id}/operations").json()
    assert ops["results"][0]["reason"] == "pool 1 short (queue waiting)"


def test_owners_switch_sharing_off_and_set_its_limits(owner_client, viewer_client, partner):
    url = "/api/v1/partners/me/"
    body = {
        "sharing_enabled": False,
        "sharing_max_moves_per_hour": 3,
        "sharing_max_trx_per_hour": 50_000,
        "sharing_lock_blocks": 1_200,
    }
    assert viewer_client.patch(url, body, format="json").status_code == 403
    response = owner_client.patch(url, body, format="json")
    assert response.status_code == 200, response.content
    for key, value in body.items():
        assert response.json()[key] == value
    partner.refresh_from_db()
    assert (partner.sharing_enabled, partner.sharing_lock_blocks) == (False, 1_200)
    for bad in (
        {"sharing_enabled": "false"},
        {"sharing_max_moves_per_hour": -1},
        {"sharing_lock_blocks": 864_001},
        {"sharing_max_trx_per_hour": "5"},
    ):
        refused = owner_client.patch(url, bad, format="json")
        assert refused.status_code == 400, bad
        assert set(refused.json()["error"]["fields"]) == set(bad)
    partner.refresh_from_db()
    assert (partner.sharing_enabled, partner.sharing_max_moves_per_hour) == (False, 3)


def test_a_pools_sharing_priority(key_client, partner):
    pool = EnergyPoolFactory(partner=partner)
    url = f"/api/v1/pools/{pool.pk}/"
    response = key_client.patch(url, {"share_priority": 7}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["share_priority"] == 7
    for bad in (0, 101, "7", 2.5):
        refused = key_client.patch(url, {"share_priority": bad}, format="json")
        assert refused.status_code == 400, bad
    assert EnergyPool.objects.get(pk=pool.pk).share_priority == 7


def test_a_reserve_loan_shows_to_its_borrower_only_with_the_reserve_as_id_and_address(
    key_client, partner, other_partner
):
    operator = PartnerFactory(name="Operator")
    reserve = EnergyPoolFactory(
        partner=operator, custody="custodial", is_reserve=True, label="operator reserve"
    )
    loans = {}
    for borrower in (partner, other_partner):
        receiver = EnergyPoolFactory(partner=borrower)
        ReserveGrant.objects.create(pool=reserve, partner=borrower, max_energy=500_000)
        loans[borrower.pk] = EnergyShare.objects.create(
            partner=borrower,
            donor=reserve,
            receiver=receiver,
            amount_sun=5_000_000,
            energy=75_000,
            state="active",
            reason=f"reserve lends to {borrower.name}",
        )
    mine = loans[partner.pk]
    body = key_client.get("/api/v1/energy/shares").json()
    assert [row["id"] for row in body["results"]] == [mine.pk]
    row = body["results"][0]
    assert (row["donor"], row["donor_address"], row["from_reserve"]) == (
        reserve.pk,
        reserve.address,
        True,
    )
    assert other_partner.name not in str(body)
    assert "operator reserve" not in str(body)  # the reserve's label, nothing of it but ids
    by_reserve = key_client.get("/api/v1/energy/shares", {"pool": reserve.pk}).json()
    assert [r["id"] for r in by_reserve["results"]] == [mine.pk]
    assert key_client.get(f"/api/v1/pools/{reserve.pk}/").status_code == 404
    assert key_client.get(f"/api/v1/pools/{reserve.pk}/operations").status_code == 404
    own = loan(partner)
    rows = key_client.get("/api/v1/energy/shares").json()["results"]
    assert {r["id"]: r["from_reserve"] for r in rows} == {mine.pk: True, own.pk: False}
