"""The partner's heavy reads (bench/reads.py): their query counts, the plain-row pool list
against its serializer, and the read cache (common/readcache.py) with its invalidation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from common.readcache import partner_changed_on_commit
from pools.apis.pools import POOL_ROW_FIELDS, PoolOutputSerializer, pool_row_output
from pools.models import EnergyPool
from pools.tests.factories import EnergyPoolFactory

POOLS = "/api/v1/pools/"


def monitor(pid: int) -> str:
    return f"/api/v1/energy/monitor/{pid}"


def dashboard(pid: int) -> str:
    return f"/api/v1/energy/dashboard/{pid}"


@pytest.fixture
def read_cache(settings):
    settings.READS_CACHE_SECONDS = 30


def test_pool_list_is_one_query_after_the_key(partner, key_client, django_assert_num_queries):
    key_client.get(POOLS)  # records the key's last use
    EnergyPoolFactory.create_batch(3, partner=partner)
    with django_assert_num_queries(2):  # key, the page with its total (was: key, count, page)
        assert key_client.get(POOLS).json()["count"] == 3
    EnergyPoolFactory.create_batch(40, partner=partner)
    with django_assert_num_queries(2):
        body = key_client.get(POOLS, {"page_size": 10, "page": 2}).json()
    assert body["count"] == 43
    assert len(body["results"]) == 10
    assert body["next"].endswith("?page=3&page_size=10")
    assert body["previous"].endswith("/pools/?page_size=10")  # page 1 has no page param


def test_pool_list_pages_past_the_end_and_filters(partner, key_client):
    EnergyPoolFactory.create_batch(2, partner=partner)
    assert key_client.get(POOLS, {"page": 2}).status_code == 404
    assert key_client.get(POOLS, {"status": "paused"}).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


def test_the_row_built_pool_equals_the_serializer(partner):
    pool = EnergyPoolFactory(
        partner=partner,
        energy_limit=1000,
        energy_used=333,
        reserved_energy=5,
        warning_threshold=Decimal("55.5"),
    )
    row = EnergyPool.objects.filter(pk=pool.pk).values(*POOL_ROW_FIELDS).get()
    from django.utils import timezone

    generic = PoolOutputSerializer(pool).data
    assert pool_row_output(row, timezone.get_current_timezone()) == generic
    assert generic["usage_percent"] == "33.80"
    assert generic["warning_threshold"] == "55.50"


@pytest.mark.django_db(transaction=True)
def test_cached_reads_end_with_a_committed_change(read_cache, owner_client, partner):
    pool = EnergyPoolFactory(partner=partner, label="before")
    for url in (POOLS, monitor(partner.pk), dashboard(partner.pk)):
        assert owner_client.get(url).status_code == 200
    # A write that bypasses the services is not seen while the cache lasts...
    EnergyPool.objects.filter(pk=pool.pk).update(label="unseen")
    assert owner_client.get(POOLS).json()["results"][0]["label"] == "before"
    # ...a write through a service is seen at once, on every cached read.
    response = owner_client.patch(f"{POOLS}{pool.pk}/", {"label": "after"}, format="json")
    assert response.status_code == 200
    assert owner_client.get(POOLS).json()["results"][0]["label"] == "after"
    assert owner_client.get(monitor(partner.pk)).json()["pools"][0]["label"] == "after"
    assert owner_client.get(dashboard(partner.pk)).json()["pools"][0]["label"] == "after"


@pytest.mark.django_db(transaction=True)
def test_cached_dashboard_shows_new_partner_settings_at_once(read_cache, owner_client, partner):
    """The partner's thresholds (and the levels the cards compute from them) and name are
    read from the partner's row: PATCH /partners/me/ ends the cached dashboard (it was
    served unchanged for up to READS_CACHE_SECONDS)."""
    pool = EnergyPoolFactory(partner=partner, energy_limit=1_000, energy_used=600)
    card = owner_client.get(dashboard(partner.pk)).json()["pools"][0]
    assert (card["warning_threshold"], card["level"]) == ("90.00", "ok")
    response = owner_client.patch(
        "/api/v1/partners/me/",
        {"name": "Renamed", "warning_threshold": "50", "critical_threshold": "70"},
        format="json",
    )
    assert response.status_code == 200
    card = owner_client.get(dashboard(partner.pk)).json()["pools"][0]
    assert (card["partner_name"], card["warning_threshold"], card["critical_threshold"]) == (
        "Renamed",
        "50.00",
        "70.00",
    )
    assert card["level"] == "warning"
    # A pool's own thresholds (pools/services/pools.py publishes `pools.changed`): likewise.
    response = owner_client.patch(f"{POOLS}{pool.pk}/", {"critical_threshold": "60"}, format="json")
    assert response.status_code == 200
    card = owner_client.get(dashboard(partner.pk)).json()["pools"][0]
    assert (card["critical_threshold"], card["level"]) == ("60.00", "critical")


@pytest.mark.django_db(transaction=True)
def test_cached_dashboard_shows_alert_channel_changes_at_once(read_cache, owner_client, partner):
    """The dashboard lists the partner's alert channels: creating, changing and deleting one
    (alerts/services/channels.py) ends the cached dashboard (it was served unchanged for up
    to READS_CACHE_SECONDS)."""

    def channels() -> list[tuple[str, str, bool]]:
        body = owner_client.get(dashboard(partner.pk)).json()
        return [(c["name"], c["min_level"], c["is_active"]) for c in body["channels"]]

    EnergyPoolFactory(partner=partner)
    assert channels() == []
    response = owner_client.post(
        "/api/v1/alert-channels",
        {"name": "ops", "kind": "email", "target": "ops@acme.test", "min_level": "critical"},
        format="json",
    )
    assert response.status_code == 201, response.content
    url = f"/api/v1/alert-channels/{response.json()['id']}"
    assert channels() == [("ops", "critical", True)]
    response = owner_client.patch(url, {"min_level": "warning", "is_active": False}, format="json")
    assert response.status_code == 200, response.content
    assert channels() == [("ops", "warning", False)]
    assert owner_client.delete(url).status_code == 204
    assert channels() == []


@pytest.mark.django_db(transaction=True)
def test_partner_update_bumps_the_reads_only_when_something_changed(partner, monkeypatch):
    from partners.models import Partner
    from partners.services import partner_update

    bumped: list[int] = []
    monkeypatch.setattr("common.readcache.partner_changed", bumped.append)
    partner_update(partner=partner, warning_threshold=partner.warning_threshold)
    partner_update(partner=partner)
    assert bumped == []
    blocks = partner.sharing_lock_blocks + 1
    assert partner_update(partner=partner, sharing_lock_blocks=blocks).sharing_lock_blocks == blocks
    assert bumped == [partner.pk]
    # Compared with the row, not the caller's older copy: a value changed meanwhile is set.
    Partner.objects.filter(pk=partner.pk).update(warning_threshold=Decimal("50"))
    partner_update(partner=partner, warning_threshold=partner.warning_threshold)
    assert Partner.objects.get(pk=partner.pk).warning_threshold == partner.warning_threshold
    assert bumped == [partner.pk, partner.pk]


def test_cached_reads_cost_only_the_caller(
    read_cache, partner, key_client, django_assert_num_queries
):
    EnergyPoolFactory.create_batch(3, partner=partner)
    for url in (POOLS, monitor(partner.pk), dashboard(partner.pk)):
        first = key_client.get(url).json()
        with django_assert_num_queries(1):  # the key
            assert key_client.get(url).json() == first


def test_a_cached_read_is_never_another_partners(
    read_cache, partner, other_partner, key_client, outsider_key_client
):
    EnergyPoolFactory(partner=partner, label="mine")
    EnergyPoolFactory(partner=other_partner, label="theirs")
    assert [p["label"] for p in key_client.get(POOLS).json()["results"]] == ["mine"]
    assert [p["label"] for p in outsider_key_client.get(POOLS).json()["results"]] == ["theirs"]
    assert outsider_key_client.get(monitor(partner.pk)).status_code == 404
    assert outsider_key_client.get(dashboard(partner.pk)).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_one_bump_per_partner_and_transaction(partner, other_partner, monkeypatch):
    bumped: list[int] = []
    monkeypatch.setattr("common.readcache.partner_changed", bumped.append)
    with transaction.atomic():
        for _ in range(3):
            partner_changed_on_commit(partner.pk)
        partner_changed_on_commit(other_partner.pk)
        assert bumped == []  # nothing before the commit
    assert sorted(bumped) == sorted([partner.pk, other_partner.pk])
    with transaction.atomic():
        partner_changed_on_commit(partner.pk)
        transaction.set_rollback(True)
    assert len(bumped) == 2  # a rolled-back change bumps nothing
    with transaction.atomic():
        partner_changed_on_commit(partner.pk)
    assert bumped[-1] == partner.pk
    assert len(bumped) == 3
