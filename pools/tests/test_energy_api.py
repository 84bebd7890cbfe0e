"""Energy reads and actions: personas, outsiders, bad input, query counts, real numbers."""

import math
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient
from tronpy.keys import PrivateKey

from partners.tests.factories import UserFactory
from pools.models import EnergyPool, EnergyUsageLog
from pools.selectors import days_until_depleted
from pools.tests.factories import EnergyPoolFactory, EnergyUsageLogFactory
from pools.tests.test_chain_client import KeySigner

pytestmark = pytest.mark.django_db


def monitor(pid):
    return f"/api/v1/energy/monitor/{pid}"


def logs(pid):
    return f"/api/v1/energy/usage-logs/{pid}"


def update(pid):
    return f"/api/v1/energy/update/{pid}"


@pytest.fixture
def unverified_staff_client():
    client = APIClient()
    client.force_login(UserFactory(is_staff=True))
    return client


def test_days_until_depleted():
    assert days_until_depleted(limit=1000, committed=0, daily_usage=900) is None
    assert days_until_depleted(limit=1000, committed=1000, daily_usage=2000) == 0.0
    # du/dt = D - u from 0 reaches 1000 with D = 2000 after ln 2 days
    assert days_until_depleted(limit=1000, committed=0, daily_usage=2000) == pytest.approx(
        math.log(2)
    )


def test_monitor_shows_partner_and_pool_numbers(partner, key_client):
    pool = EnergyPoolFactory(
        partner=partner,
        energy_limit=2_400_000,
        energy_used=600_000,
        reserved_energy=200_000,
        last_synced_at=timezone.now(),
    )
    EnergyPoolFactory(partner=partner, status=EnergyPool.Status.ARCHIVED)
    EnergyUsageLogFactory(pool=pool, energy_used=7 * 3_000_000)  # 3M a day for a week
    body = key_client.get(monitor(partner.pk)).json()
    assert body["partner_id"] == partner.pk
    assert body["totals"]["pools"] == 1
    assert body["totals"]["available_energy"] == 1_600_000
    (entry,) = body["pools"]
    assert entry["pool_id"] == pool.pk
    assert entry["available_energy"] == 1_600_000
    assert entry["usage_percent"] == "33.33"
    assert entry["regeneration_per_hour"] == 100_000
    assert entry["daily_usage"] == 3_000_000
    assert entry["days_left"] == pytest.approx(math.log(2_200_000 / 600_000))
    assert entry["stale"] is False


def test_monitor_flags_stale_pools(partner, owner_client):
    EnergyPoolFactory(partner=partner, last_synced_at=timezone.now() - timedelta(hours=2))
    EnergyPoolFactory(partner=partner, last_synced_at=None)
    assert [p["stale"] for p in owner_client.get(monitor(partner.pk)).json()["pools"]] == [
        True,
        True,
    ]


def test_monitor_of_another_partner_is_404(
    partner, other_partner, outsider_key_client, outsider_client
):
    EnergyPoolFactory(partner=partner)
    for client in (outsider_key_client, outsider_client):
        assert client.get(monitor(partner.pk)).status_code == 404
        assert client.get(logs(partner.pk)).status_code == 404
        assert client.post(update(partner.pk)).status_code == 404
    assert outsider_key_client.get(monitor(10**9)).status_code == 404


def test_monitor_query_count_is_constant(partner, key_client, django_assert_num_queries):
    key_client.get(monitor(partner.pk))  # records the key's last use
    EnergyPoolFactory.create_batch(2, partner=partner)
    # key, pools (their week's usage, forecast accuracy and the savings folded in); was 4,
    # then 3.
    with django_assert_num_queries(2):
        key_client.get(monitor(partner.pk))
    EnergyPoolFactory.create_batch(15, partner=partner)
    with django_assert_num_queries(2):
        assert len(key_client.get(monitor(partner.pk)).json()["pools"]) == 17


def test_usage_logs_filter_and_paginate(
    partner, other_partner, key_client, django_assert_num_queries
):
    pool = EnergyPoolFactory(partner=partner)
    other = EnergyPoolFactory(partner=partner)
    EnergyUsageLogFactory.create_batch(3, pool=pool, kind=EnergyUsageLog.Kind.EXTERNAL)
    EnergyUsageLogFactory(pool=other, kind=EnergyUsageLog.Kind.WITHDRAWAL)
    EnergyUsageLogFactory(pool=EnergyPoolFactory(partner=other_partner))
    body = key_client.get(logs(partner.pk)).json()
    assert body["count"] == 4
    assert key_client.get(logs(partner.pk), {"pool": other.pk}).json()["count"] == 1
    assert key_client.get(logs(partner.pk), {"kind": "external"}).json()["count"] == 3
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert key_client.get(logs(partner.pk), {"since": future}).json()["count"] == 0
    with django_assert_num_queries(3):  # key, count, page
        key_client.get(logs(partner.pk))


@pytest.mark.parametrize("params", [{"kind": "nope"}, {"since": "yesterday"}, {"pool": "x"}])
def test_usage_logs_bad_filters_are_400(partner, key_client, params):
    response = key_client.get(logs(partner.pk), params)
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) <= {"kind", "since", "pool"}


def test_update_syncs_only_the_partners_pools(devnet, partner, other_partner, key_client):
    mine = KeySigner(PrivateKey.random())
    theirs = KeySigner(PrivateKey.random())
    devnet.fund_many([mine.address, theirs.address], 12)
    pool = EnergyPoolFactory(partner=partner, address=mine.address, trx_balance_sun=0)
    their_pool = EnergyPoolFactory(partner=other_partner, address=theirs.address, trx_balance_sun=0)
    body = key_client.post(update(partner.pk)).json()
    assert (body["pools"], body["synced"], body["failed"]) == (1, 1, 0)
    pool.refresh_from_db()
    their_pool.refresh_from_db()
    assert pool.trx_balance_sun == 12_000_000
    assert their_pool.trx_balance_sun == 0


def test_viewer_cannot_trigger_update(partner, viewer_client):
    assert viewer_client.post(update(partner.pk)).status_code == 403


@pytest.mark.parametrize("path", ["/api/v1/admin/energy/status", "/api/v1/energy/overview"])
def test_admin_reads_need_verified_staff(path, key_client, owner_client, unverified_staff_client):
    for client in (key_client, owner_client, unverified_staff_client, APIClient()):
        assert client.get(path).status_code in (401, 403)


def test_admin_status_lists_every_pool(
    partner, other_partner, staff_client, django_assert_num_queries
):
    EnergyPoolFactory.create_batch(2, partner=partner)
    EnergyPoolFactory(partner=other_partner)
    body = staff_client.get("/api/v1/admin/energy/status").json()
    assert body["count"] == 3
    assert {p["partner_name"] for p in body["results"]} == {"Acme Wallet", "Outsider Exchange"}
    EnergyPoolFactory.create_batch(10, partner=other_partner)
    # session, user, otp device, count, page, recent usage
    with django_assert_num_queries(6):
        staff_client.get("/api/v1/admin/energy/status")


def test_overview_totals(partner, other_partner, staff_client):
    EnergyPoolFactory(partner=partner, energy_limit=1000, energy_used=100, reserved_energy=50)
    EnergyPoolFactory(partner=other_partner, energy_limit=3000, energy_used=300)
    EnergyPoolFactory(partner=other_partner, energy_limit=99, status=EnergyPool.Status.ARCHIVED)
    body = staff_client.get("/api/v1/energy/overview").json()
    assert body["totals"]["pools"] == 2
    assert body["totals"]["energy_limit"] == 4000
    assert body["totals"]["available_energy"] == 3550
    assert [p["partner_name"] for p in body["partners"]] == ["Acme Wallet", "Outsider Exchange"]
    assert body["partners"][0]["usage_percent"] == "15.00"


def test_over_committed_pool_does_not_hide_free_energy(partner, staff_client, key_client):
    EnergyPoolFactory(partner=partner, energy_limit=1000, energy_used=900, reserved_energy=300)
    EnergyPoolFactory(partner=partner, energy_limit=1000, energy_used=0)
    assert staff_client.get("/api/v1/energy/overview").json()["totals"]["available_energy"] == 1000
    monitor_body = key_client.get(monitor(partner.pk)).json()
    assert monitor_body["totals"]["available_energy"] == 1000


def test_overview_and_prices_query_counts_are_constant(
    partner, other_partner, staff_client, key_client, django_assert_num_queries
):
    EnergyPoolFactory(partner=partner)
    staff_client.get("/api/v1/energy/overview")
    key_client.get("/api/v1/energy/prices")
    counts = []
    for _ in range(2):
        with django_assert_num_queries(6) as overview:  # session, user, device, 2 + savings
            staff_client.get("/api/v1/energy/overview")
        with django_assert_num_queries(2) as prices:  # key, prices
            key_client.get("/api/v1/energy/prices")
        counts.append((len(overview.captured_queries), len(prices.captured_queries)))
        EnergyPoolFactory.create_batch(5, partner=other_partner)
    assert counts[0] == counts[1]


@pytest.mark.django_db
def test_the_hand_written_monitor_entry_equals_the_declared_fields():
    from django.utils import timezone
    from rest_framework import serializers

    from pools.apis.energy import AdminPoolEnergySerializer, PoolEnergySerializer
    from pools.selectors import pool_energy

    pools = [
        EnergyPoolFactory(last_synced_at=timezone.now(), reserved_energy=7),
        EnergyPoolFactory(energy_limit=0, energy_used=3),
    ]
    EnergyUsageLogFactory(pool=pools[0], energy_used=10**7)  # days left becomes a number
    for entry in pool_energy(pools=pools):
        for serializer_class in (PoolEnergySerializer, AdminPoolEnergySerializer):
            serializer = serializer_class()
            generic = serializers.Serializer.to_representation(serializer, entry)
            assert serializer.to_representation(entry) == dict(generic)


@pytest.mark.django_db
def test_the_hand_written_pool_equals_the_declared_fields():
    from decimal import Decimal

    from rest_framework import serializers

    from pools.apis.energy import AdminPoolSerializer
    from pools.apis.pools import PoolOutputSerializer

    for pool in (
        EnergyPoolFactory(
            last_synced_at=timezone.now(), last_sync_block=7, warning_threshold=Decimal("55.5")
        ),
        EnergyPoolFactory(energy_limit=0, energy_used=3),
    ):
        for serializer_class in (PoolOutputSerializer, AdminPoolSerializer):
            serializer = serializer_class()
            generic = serializers.ModelSerializer.to_representation(serializer, pool)
            assert serializer.to_representation(pool) == dict(generic)


@pytest.mark.django_db
def test_the_monitor_rows_equal_the_serializer_over_models(partner):
    """The monitor builds plain rows (`pool_energy_rows`, `monitor_output`); the declared
    serializer over the model path (`pool_energy`) says the same, field for field."""
    from decimal import Decimal

    from django.conf import settings

    from pools.apis.energy import SAVINGS_WINDOW, MonitorOutputSerializer, monitor_output
    from pools.selectors import (
        energy_totals,
        pool_energy,
        trx_saved_sun,
        with_forecast_accuracy,
        with_recent_usage,
    )
    from pools.tests.factories import PriceQuoteFactory
    from predictions.tests.factories import EnergyPredictionFactory

    now = timezone.now()
    busy = EnergyPoolFactory(
        partner=partner, last_synced_at=now, reserved_energy=7, trx_balance_sun=5
    )
    EnergyUsageLogFactory(pool=busy, energy_used=10**8, at=now - timedelta(hours=1))
    EnergyPredictionFactory(pool=busy, made_at=now - timedelta(days=2), abs_error=300, covered=True)
    EnergyPredictionFactory(
        pool=busy, made_at=now - timedelta(days=3), abs_error=100, covered=False
    )
    EnergyPoolFactory(partner=partner, energy_limit=0, energy_used=3, last_sync_error="down")
    EnergyPoolFactory(partner=partner, status=EnergyPool.Status.ARCHIVED)
    EnergyPoolFactory()  # another partner's
    PriceQuoteFactory(price_sun=Decimal(210), quoted_at=now - timedelta(days=10))
    EnergyUsageLogFactory(
        pool=busy, kind=EnergyUsageLog.Kind.WITHDRAWAL, energy_used=1000, at=now - timedelta(days=2)
    )
    EnergyUsageLogFactory(  # before the fee was recorded: the default fee
        pool=busy, kind=EnergyUsageLog.Kind.WITHDRAWAL, energy_used=10, at=now - timedelta(days=20)
    )
    EnergyUsageLogFactory(  # outside the 30 days
        pool=busy, kind=EnergyUsageLog.Kind.WITHDRAWAL, energy_used=5, at=now - timedelta(days=40)
    )

    output = monitor_output(partner_id=partner.pk, now=now)

    pools = list(
        with_recent_usage(
            with_forecast_accuracy(
                EnergyPool.objects.filter(partner=partner)
                .exclude(status=EnergyPool.Status.ARCHIVED)
                .order_by("id")
            ),
            now=now,
        )
    )
    entries = pool_energy(pools=pools, now=now)
    since = now - SAVINGS_WINDOW
    reference = MonitorOutputSerializer(
        {
            "partner_id": partner.pk,
            "totals": energy_totals(entries),
            "savings": {
                "since": since,
                "trx_saved_sun": trx_saved_sun(partner_id=partner.pk, since=since),
            },
            "pools": entries,
        }
    ).data
    assert output == reference
    first = output["pools"][0]
    assert first["forecast_scored"] == 2
    assert first["forecast_mae"] == 200.0
    assert first["forecast_coverage"] == 0.5
    assert first["days_left"] is not None
    # folded into the pools' query; external usage saves nothing
    assert output["savings"]["trx_saved_sun"] == 1000 * 210 + 10 * settings.DEFAULT_ENERGY_FEE_SUN
    assert len(output["pools"]) == 2


@pytest.mark.django_db
def test_the_monitor_of_a_partner_without_pools_still_shows_its_savings(partner):
    """The savings ride on the pools' query; with no pool to carry them, a query of their
    own."""
    from pools.apis.energy import monitor_output

    now = timezone.now()
    archived = EnergyPoolFactory(partner=partner, status=EnergyPool.Status.ARCHIVED)
    EnergyUsageLogFactory(pool=archived, kind=EnergyUsageLog.Kind.WITHDRAWAL, energy_used=3)
    output = monitor_output(partner_id=partner.pk, now=now)
    assert output["pools"] == []
    assert output["savings"]["trx_saved_sun"] == 3 * settings.DEFAULT_ENERGY_FEE_SUN
