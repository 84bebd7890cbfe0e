"""Energy sharing's settings and records in the API: the partner's off switch, limits and
lock, a pool's priority, the loans list with its reasons and operations (scoped)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from partners.models import Partner
from pools.models import EnergyPool, EnergyShare, StakingOperation
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
