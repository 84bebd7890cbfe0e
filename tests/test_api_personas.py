"""Every partner endpoint with its personas: owner, operator key, viewer, outsider, anonymous."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from pools.models import EnergyPool
from pools.tests.factories import EnergyPoolFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/partners/me/"
POOLS = "/api/v1/pools/"


def pool_url(pool: EnergyPool) -> str:
    return f"{POOLS}{pool.pk}/"


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


# --- partners/me -------------------------------------------------------------------------


def test_me_for_owner_viewer_and_key(partner, owner_client, viewer_client, key_client):
    for client, role in (
        (owner_client, "owner"),
        (viewer_client, "viewer"),
        (key_client, "operator"),
    ):
        body = client.get(ME).json()
        assert body["id"] == partner.pk
        assert body["slug"] == "acme"
        assert body["role"] == role


def test_me_for_outsider_is_its_own_partner(other_partner, outsider_client):
    assert outsider_client.get(ME).json()["id"] == other_partner.pk


def test_me_anonymous_is_refused(db):
    assert_error(APIClient().get(ME), 401, "not_authenticated")


def test_owner_updates_partner(partner, owner_client):
    response = owner_client.patch(
        ME, {"contact_email": "new@acme.example", "warning_threshold": "85.5"}, format="json"
    )
    assert response.status_code == 200, response.content
    partner.refresh_from_db()
    assert partner.contact_email == "new@acme.example"
    assert partner.warning_threshold == Decimal("85.5")


@pytest.mark.parametrize("client_fixture", ["viewer_client", "key_client"])
def test_non_owner_cannot_update_partner(request, partner, client_fixture):
    client = request.getfixturevalue(client_fixture)
    assert_error(client.patch(ME, {"name": "Hijacked"}, format="json"), 403)
    partner.refresh_from_db()
    assert partner.name == "Acme Wallet"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"warning_threshold": "abc"}, "warning_threshold"),
        ({"warning_threshold": "0"}, "warning_threshold"),
        ({"emergency_threshold": "100.01"}, "emergency_threshold"),
        ({"warning_threshold": "99"}, "non_field_errors"),  # above critical (95)
        ({"contact_email": "not-an-email"}, "contact_email"),
        ({"nme": "typo"}, "nme"),
        (["a", "list"], "non_field_errors"),
        ({"name": 12}, "name"),  # a number is not a string: JSON types as declared
        ({"name": " Acme"}, "name"),  # never trimmed
        ({"name": "\u200b"}, "name"),  # nothing visible
    ],
)
def test_bad_partner_update_changes_nothing(partner, owner_client, body, field):
    before = partner.updated_at
    response = owner_client.patch(ME, body, format="json")
    error = assert_error(response, 400, "invalid")
    assert field in error["fields"]
    partner.refresh_from_db()
    assert partner.updated_at == before


def test_malformed_json_is_a_400(partner, owner_client):
    response = owner_client.generic("PATCH", ME, "{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


# --- pools -------------------------------------------------------------------------------


@pytest.fixture
def pools(partner, other_partner):
    mine = [EnergyPoolFactory(partner=partner) for _ in range(3)]
    theirs = EnergyPoolFactory(partner=other_partner)
    return mine, theirs


def test_pool_list_shows_only_own_pools(pools, key_client, outsider_key_client):
    mine, theirs = pools
    body = key_client.get(POOLS).json()
    assert body["count"] == 3
    assert [p["id"] for p in body["results"]] == [p.pk for p in mine]
    assert theirs.address not in {p["address"] for p in body["results"]}
    outsider = outsider_key_client.get(POOLS).json()
    assert [p["id"] for p in outsider["results"]] == [theirs.pk]


def test_pool_list_reports_derived_numbers(partner, owner_client):
    EnergyPoolFactory(
        partner=partner, energy_limit=1_000_000, energy_used=400_000, reserved_energy=100_000
    )
    pool = owner_client.get(POOLS).json()["results"][0]
    assert pool["available_energy"] == 500_000
    assert pool["usage_percent"] == "50.00"
    assert pool["regeneration_per_hour"] == 1_000_000 // 24


def test_pool_list_filters_and_rejects_bad_filter(partner, owner_client):
    EnergyPoolFactory(partner=partner, status=EnergyPool.Status.PAUSED)
    EnergyPoolFactory(partner=partner)
    assert owner_client.get(POOLS, {"status": "paused"}).json()["count"] == 1
    error = assert_error(owner_client.get(POOLS, {"status": "bogus"}), 400)
    assert "status" in error["fields"]


def test_pool_list_query_count_is_constant(partner, key_client, django_assert_num_queries):
    EnergyPoolFactory.create_batch(2, partner=partner)
    key_client.get(POOLS)  # the first use also records the key's last use
    # key lookup, page (its total counted in the same query: COUNT(*) OVER ())
    with django_assert_num_queries(2):
        key_client.get(POOLS)
    EnergyPoolFactory.create_batch(20, partner=partner)
    with django_assert_num_queries(2):
        assert key_client.get(POOLS).json()["count"] == 22


def test_pool_detail_for_owner_viewer_and_key(pools, owner_client, viewer_client, key_client):
    pool = pools[0][0]
    for client in (owner_client, viewer_client, key_client):
        assert client.get(pool_url(pool)).json()["address"] == pool.address


def test_pool_detail_of_another_partner_is_404(pools, outsider_client, outsider_key_client):
    pool = pools[0][0]
    for client in (outsider_client, outsider_key_client):
        assert_error(client.get(pool_url(pool)), 404, "not_found")
    assert_error(outsider_client.get(f"{POOLS}999999/"), 404)


def test_operator_updates_pool_thresholds(pools, key_client):
    pool = pools[0][0]
    response = key_client.patch(
        pool_url(pool), {"label": "hot wallet", "warning_threshold": "80"}, format="json"
    )
    assert response.status_code == 200, response.content
    pool.refresh_from_db()
    assert (pool.label, pool.warning_threshold) == ("hot wallet", Decimal(80))
    # null clears the override again
    key_client.patch(pool_url(pool), {"warning_threshold": None}, format="json")
    pool.refresh_from_db()
    assert pool.warning_threshold is None


def test_viewer_cannot_update_pool(pools, viewer_client):
    pool = pools[0][0]
    assert_error(viewer_client.patch(pool_url(pool), {"label": "x"}, format="json"), 403)
    pool.refresh_from_db()
    assert pool.label != "x"


def test_outsider_cannot_update_pool(pools, outsider_client):
    pool = pools[0][0]
    assert_error(outsider_client.patch(pool_url(pool), {"label": "x"}, format="json"), 404)
    pool.refresh_from_db()
    assert pool.label != "x"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"critical_threshold": "50"}, "non_field_errors"),  # below warning 90
        ({"warning_threshold": "-1"}, "warning_threshold"),
        ({"warning_threshold": "12.345"}, "warning_threshold"),
        ({"energy_limit": 10**12}, "energy_limit"),  # chain numbers are not writable
        ({"reserved_energy": 0}, "reserved_energy"),
    ],
)
def test_bad_pool_update_changes_nothing(pools, owner_client, body, field):
    pool = pools[0][0]
    before = (pool.updated_at, pool.energy_limit, pool.reserved_energy)
    error = assert_error(owner_client.patch(pool_url(pool), body, format="json"), 400)
    assert field in error["fields"]
    pool.refresh_from_db()
    assert (pool.updated_at, pool.energy_limit, pool.reserved_energy) == before


def test_unknown_api_route_is_json_404(owner_client):
    assert_error(owner_client.get("/api/v1/nothing-here/"), 404, "not_found")


def test_method_not_allowed_in_error_shape(owner_client, pools):
    assert_error(owner_client.delete(pool_url(pools[0][0])), 405)


def test_form_encoded_body_is_415(owner_client):
    assert_error(
        owner_client.patch(ME, "name=x", content_type="application/x-www-form-urlencoded"), 415
    )
