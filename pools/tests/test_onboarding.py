"""Adding pools (partner API, admin API) and their lifecycle status."""

import pytest
from tronpy.keys import PrivateKey

from pools.models import EnergyPool, SigningKey
from pools.services.onboarding import CANNOT_ADD
from pools.tests.factories import EnergyPoolFactory, ReservationFactory

pytestmark = pytest.mark.django_db

POOLS = "/api/v1/pools/"


def funded(devnet, trx=50):
    key = PrivateKey.random()
    devnet.fund(key.public_key.to_base58check_address(), trx)
    return key


def test_owner_adds_watch_only_pool_and_it_is_synced(devnet, partner, owner_client):
    key = funded(devnet, 77)
    address = key.public_key.to_base58check_address()
    response = owner_client.post(POOLS, {"address": address, "label": "hot"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["address"], body["custody"], body["label"]) == (address, "watch_only", "hot")
    assert body["trx_balance_sun"] == 77_000_000
    assert body["last_synced_at"] is not None
    assert not SigningKey.objects.exists()
    assert EnergyPool.objects.get(address=address).partner == partner


def test_imported_key_makes_a_custodial_pool(devnet, partner, owner_client):
    key = funded(devnet)
    response = owner_client.post(POOLS, {"private_key": key.hex()}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["custody"] == "custodial"
    assert body["address"] == key.public_key.to_base58check_address()
    assert key.hex() not in response.content.decode()
    stored = SigningKey.objects.get(address=body["address"])
    assert key.hex() not in stored.ciphertext


def test_generated_key_makes_a_custodial_pool_awaiting_funds(devnet, partner, owner_client):
    response = owner_client.post(POOLS, {"generate_key": True, "label": "new"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["custody"] == "custodial"
    assert SigningKey.objects.filter(address=body["address"]).exists()
    assert body["last_synced_at"] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"address": "TNotAnAddress"}, "address"),
        ({"address": ""}, "address"),
        ({}, "address"),
        ({"private_key": "xyz"}, "private_key"),
        ({"generate_key": True, "address": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"}, "generate_key"),
        ({"address": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "custody": "custodial"}, "custody"),
    ],
)
def test_bad_onboarding_input_is_400_and_changes_nothing(devnet, owner_client, payload, field):
    response = owner_client.post(POOLS, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not EnergyPool.objects.exists()
    assert not SigningKey.objects.exists()


def test_unknown_account_is_refused(devnet, owner_client):
    ghost = PrivateKey.random().public_key.to_base58check_address()
    response = owner_client.post(POOLS, {"address": ghost}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["address"] == [CANNOT_ADD]


def test_key_for_another_address_is_refused(devnet, owner_client):
    key = funded(devnet)
    other = funded(devnet).public_key.to_base58check_address()
    response = owner_client.post(POOLS, {"address": other, "private_key": key.hex()}, format="json")
    assert response.status_code == 400
    assert key.hex() not in response.content.decode()


def test_existing_pool_address_is_refused(devnet, partner, other_partner, owner_client):
    key = funded(devnet)
    address = key.public_key.to_base58check_address()
    EnergyPoolFactory(partner=other_partner, address=address)
    response = owner_client.post(POOLS, {"address": address}, format="json")
    assert response.status_code == 400
    assert EnergyPool.objects.get(address=address).partner == other_partner
    # The same answer as for an address that was never activated: nothing tells the
    # partner that the address is another partner's pool.
    ghost = PrivateKey.random().public_key.to_base58check_address()
    unknown = owner_client.post(POOLS, {"address": ghost}, format="json")
    assert unknown.json() == response.json()


@pytest.mark.parametrize("client_fixture", ["viewer_client", "key_client"])
def test_only_owners_add_pools(devnet, request, client_fixture):
    address = funded(devnet).public_key.to_base58check_address()
    client = request.getfixturevalue(client_fixture)
    assert client.post(POOLS, {"address": address}, format="json").status_code == 403
    assert not EnergyPool.objects.exists()


def test_admin_api_adds_pool_for_any_partner(devnet, other_partner, staff_client):
    client = staff_client
    address = funded(devnet).public_key.to_base58check_address()
    url = "/api/v1/admin/energy/create-pool"
    response = client.post(url, {"partner_id": other_partner.pk, "address": address}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["partner"] == other_partner.pk
    bad = client.post(url, {"partner_id": 10**9, "address": address}, format="json")
    assert bad.status_code == 400
    assert "partner_id" in bad.json()["error"]["fields"]


def test_partner_key_cannot_use_admin_create(devnet, partner, key_client):
    url = "/api/v1/admin/energy/create-pool"
    assert key_client.post(url, {"partner_id": partner.pk}, format="json").status_code == 403


def status_url(pool):
    return f"{POOLS}{pool.pk}/status"


def test_pause_resume_drain_archive(partner, key_client):
    pool = EnergyPoolFactory(partner=partner)
    for status in ("paused", "active", "draining", "archived"):
        response = key_client.post(status_url(pool), {"status": status}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status
    response = key_client.post(status_url(pool), {"status": "active"}, format="json")
    assert response.status_code == 400  # archived is final


def test_pool_with_pending_reservations_cannot_be_archived(partner, key_client):
    pool = EnergyPoolFactory(partner=partner)
    ReservationFactory(pool=pool)
    response = key_client.post(status_url(pool), {"status": "archived"}, format="json")
    assert response.status_code == 400
    pool.refresh_from_db()
    assert pool.status == "active"


def test_status_personas(partner, viewer_client, outsider_client):
    pool = EnergyPoolFactory(partner=partner)
    assert (
        viewer_client.post(status_url(pool), {"status": "paused"}, format="json").status_code == 403
    )
    assert (
        outsider_client.post(status_url(pool), {"status": "paused"}, format="json").status_code
        == 404
    )
    assert (
        viewer_client.post(status_url(pool), {"status": "bogus"}, format="json").status_code == 403
    )
    pool.refresh_from_db()
    assert pool.status == "active"


def test_chain_down_during_onboarding_is_a_clean_503(devnet, owner_client, settings):
    settings.TRON_NODE_URLS = ["http://127.0.0.1:9/secret-token"]
    address = PrivateKey.random().public_key.to_base58check_address()
    response = owner_client.post(POOLS, {"address": address}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "dependency_unavailable"
    assert "secret-token" not in response.content.decode()
    assert not EnergyPool.objects.exists()


def test_owner_adds_an_emergency_wallet(devnet, partner, owner_client):
    key = funded(devnet)
    response = owner_client.post(
        POOLS, {"private_key": key.hex(), "role": "emergency"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert (response.json()["role"], response.json()["custody"]) == ("emergency", "custodial")
    bad = owner_client.post(
        POOLS,
        {"address": funded(devnet).public_key.to_base58check_address(), "role": "bogus"},
        format="json",
    )
    assert bad.status_code == 400
