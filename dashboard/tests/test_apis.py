"""The dashboard and analytics endpoints: real numbers, partner scope, bad parameters, and a
query count that does not grow with pools or days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.tests.factories import AlertChannelFactory, EnergyAlertFactory
from operations.models import JobRun
from pools.models import EnergyPool, EnergyUsageLog
from pools.tests.factories import (
    EnergyPoolFactory,
    EnergyUsageLogFactory,
    PoolSnapshotFactory,
    PriceQuoteFactory,
)
from predictions.models import EnergyPrediction
from withdrawals.models import Withdrawal
from withdrawals.tests.factories import QueueEntryFactory, WithdrawalFactory

pytestmark = pytest.mark.django_db


def dashboard_url(partner_id: int) -> str:
    return f"/api/v1/energy/dashboard/{partner_id}"


def analytics_url(partner_id: int, query: str = "") -> str:
    return f"/api/v1/energy/analytics/{partner_id}{query}"


def _busy_pool(partner, **kwargs):
    """A pool with something in every card field: usage, a queue, a snapshot, an alert."""
    pool = EnergyPoolFactory(partner=partner, **kwargs)
    QueueEntryFactory(
        withdrawal__partner=partner,
        enqueued_at=timezone.now() - timedelta(minutes=3),
    )
    EnergyUsageLogFactory(pool=pool, kind=EnergyUsageLog.Kind.WITHDRAWAL, energy_used=1000)
    PoolSnapshotFactory(pool=pool)
    EnergyAlertFactory(pool=pool)
    return pool


def test_dashboard_shows_each_pool_card_from_real_state(owner_client, partner):
    pool = _busy_pool(
        partner,
        energy_limit=1_000_000,
        energy_used=850_000,
        reserved_energy=50_000,
        staked_trx_sun=12_000_000,
        warning_threshold=Decimal("80"),
        critical_threshold=Decimal("95"),
        emergency_threshold=Decimal("99"),
        last_synced_at=timezone.now(),
    )
    EnergyPoolFactory(partner=partner, status=EnergyPool.Status.ARCHIVED)
    AlertChannelFactory(partner=partner, name="ops mail")
    response = owner_client.get(dashboard_url(partner.pk))
    assert response.status_code == 200
    body = response.json()
    assert [p["pool_id"] for p in body["pools"]] == [pool.pk]  # archived left out
    card = body["pools"][0]
    assert card["available_energy"] == 100_000
    assert card["energy_limit"] == 1_000_000
    assert card["usage_percent"] == "90.00"
    assert card["level"] == "warning"
    assert card["warning_threshold"] == "80.00"
    assert card["staked_trx_sun"] == 12_000_000
    assert card["queue_length"] == 1
    assert 170 <= card["oldest_wait_seconds"] <= 200
    assert card["stale"] is False
    assert body["queue"]["length"] == 1
    assert body["totals"]["available_energy"] == 100_000
    assert [a["pool_id"] for a in body["alerts"]] == [pool.pk]
    assert [c["name"] for c in body["channels"]] == ["ops mail"]
    assert body["withdrawals_by_status"] == {"requested": 1}
    assert len(body["recent_withdrawals"]) == 1


def test_dashboard_counts_open_withdrawals_in_full_and_finished_ones_over_30_days(
    owner_client, partner
):
    """A busy partner's whole history is not read on every dashboard: finished withdrawals
    count from `withdrawals_since` (30 days), those still in progress whatever their age."""
    old = timezone.now() - timedelta(days=45)
    for status in ("confirmed", "failed", "queued", "broadcast"):
        WithdrawalFactory(partner=partner, status=status)
        withdrawal = WithdrawalFactory(partner=partner, status=status)
        Withdrawal.objects.filter(pk=withdrawal.pk).update(created_at=old)
    WithdrawalFactory(status="confirmed")  # another partner's
    body = owner_client.get(dashboard_url(partner.pk)).json()
    assert body["withdrawals_by_status"] == {
        "confirmed": 1,
        "failed": 1,
        "queued": 2,
        "broadcast": 2,
    }
    since = datetime.fromisoformat(body["withdrawals_since"])
    assert abs((timezone.now() - timedelta(days=30)) - since) < timedelta(minutes=1)
    assert since == datetime.fromisoformat(body["savings"]["since"])


def test_every_savings_figure_prices_a_log_at_the_fee_it_recorded(owner_client, partner):
    """The dashboard, the monitor and the analytics agree: a usage log is priced at the fee
    it recorded when written, whatever quote turns up later for that moment."""
    pool = EnergyPoolFactory(partner=partner)
    now = timezone.now()
    PriceQuoteFactory(price_sun=Decimal(420), quoted_at=now - timedelta(days=3))
    EnergyUsageLogFactory(
        pool=pool,
        kind=EnergyUsageLog.Kind.WITHDRAWAL,
        energy_used=1_000,
        energy_fee_sun=Decimal(280),
        at=now - timedelta(days=1),
    )
    dashboard = owner_client.get(dashboard_url(partner.pk)).json()
    monitor = owner_client.get(f"/api/v1/energy/monitor/{partner.pk}").json()
    analytics = owner_client.get(f"/api/v1/energy/analytics/{partner.pk}").json()
    assert dashboard["savings"]["trx_saved_sun"] == 280_000
    assert monitor["savings"]["trx_saved_sun"] == 280_000
    assert analytics["totals"]["trx_saved_sun"] == 280_000


def test_dashboard_level_follows_the_thresholds(owner_client, partner):
    EnergyPoolFactory(
        partner=partner, energy_limit=100, energy_used=99, last_synced_at=timezone.now()
    )
    card = owner_client.get(dashboard_url(partner.pk)).json()["pools"][0]
    assert card["level"] == "emergency"  # the partner's defaults apply


def test_dashboard_api_key_and_viewer_may_read(key_client, viewer_client, partner):
    EnergyPoolFactory(partner=partner)
    assert key_client.get(dashboard_url(partner.pk)).status_code == 200
    assert viewer_client.get(dashboard_url(partner.pk)).status_code == 200


@pytest.mark.parametrize("url", [dashboard_url, analytics_url])
def test_another_partners_dashboard_is_a_404(url, outsider_client, outsider_key_client, partner):
    EnergyPoolFactory(partner=partner)
    for client in (outsider_client, outsider_key_client):
        response = client.get(url(partner.pk))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("url", [dashboard_url, analytics_url])
def test_anonymous_is_refused(url, client, partner):
    assert client.get(url(partner.pk)).status_code in (401, 403)


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_dashboard_query_count_is_constant_in_pools(owner_client, partner):
    _busy_pool(partner)
    one = _queries(owner_client, dashboard_url(partner.pk))
    for _ in range(6):
        _busy_pool(partner)
    assert _queries(owner_client, dashboard_url(partner.pk)) == one


def test_dashboard_pinned_query_count(owner_client, partner, django_assert_num_queries):
    for _ in range(3):
        _busy_pool(partner)
    # session + user + membership; then one statement for the pools (with their week's
    # usage and the savings), withdrawals by status (with the queue), recent withdrawals,
    # alerts and channels (common/db.py fetch_together); prices: was 12, then 10, then 9.
    with django_assert_num_queries(5):
        assert owner_client.get(dashboard_url(partner.pk)).status_code == 200


def test_analytics_counts_each_day_from_the_database(owner_client, partner):
    pool = EnergyPoolFactory(partner=partner)
    now = timezone.now()
    two_days_ago = now - timedelta(days=2)
    PriceQuoteFactory(price_sun=Decimal(210), quoted_at=now - timedelta(days=40))
    EnergyUsageLogFactory(
        pool=pool, kind=EnergyUsageLog.Kind.WITHDRAWAL, energy_used=65_000, at=two_days_ago
    )
    EnergyUsageLogFactory(
        pool=pool,
        kind=EnergyUsageLog.Kind.EMERGENCY,
        energy_used=0,
        trx_burned_sun=13_000_000,
        at=two_days_ago,
    )
    EnergyUsageLogFactory(pool=pool, kind=EnergyUsageLog.Kind.EXTERNAL, energy_used=5_000, at=now)
    EnergyUsageLogFactory(pool=pool, energy_used=999, at=now - timedelta(days=45))  # too old
    WithdrawalFactory(partner=partner, status=Withdrawal.Status.CONFIRMED)
    other = EnergyPoolFactory()  # another partner's usage never counts
    EnergyUsageLogFactory(pool=other, kind=EnergyUsageLog.Kind.WITHDRAWAL, energy_used=7, at=now)

    body = owner_client.get(analytics_url(partner.pk)).json()
    assert body["days"] == 30
    assert len(body["daily"]) == 30
    assert body["daily"][-1]["date"] == now.astimezone(UTC).date().isoformat()
    by_date = {d["date"]: d for d in body["daily"]}
    day = by_date[two_days_ago.astimezone(UTC).date().isoformat()]
    assert day["pooled_energy"] == 65_000
    assert day["trx_saved_sun"] == 65_000 * 210
    assert day["trx_burned_sun"] == 13_000_000
    today = by_date[now.astimezone(UTC).date().isoformat()]
    assert today["external_energy"] == 5_000
    assert today["withdrawals"] == 1
    assert today["confirmed"] == 1
    assert body["totals"]["energy_used"] == 70_000
    assert body["totals"]["trx_saved_sun"] == 65_000 * 210
    weekday = two_days_ago.astimezone(UTC).isoweekday() - 1
    assert body["heatmap"][weekday][two_days_ago.astimezone(UTC).hour] >= 65_000
    assert body["peak_hours"][0] == {
        "hour": two_days_ago.astimezone(UTC).hour,
        "energy_used": 65_000
        + (5_000 if now.astimezone(UTC).hour == two_days_ago.astimezone(UTC).hour else 0),
    }


def test_analytics_days_parameter(owner_client, partner):
    body = owner_client.get(analytics_url(partner.pk, "?days=7")).json()
    assert len(body["daily"]) == 7


@pytest.mark.parametrize("query", ["?days=0", "?days=366", "?days=x", "?days=", "?weeks=2"])
def test_analytics_bad_parameters_are_400(owner_client, partner, query):
    response = owner_client.get(analytics_url(partner.pk, query))
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields
    assert set(fields) <= {"days", "weeks"}


def test_analytics_series_and_forecast(owner_client, partner):
    pool = EnergyPoolFactory(partner=partner, energy_limit=1000)
    now = timezone.now()
    PoolSnapshotFactory(pool=pool, taken_at=now - timedelta(hours=2), energy_used=300)
    PoolSnapshotFactory(pool=pool, taken_at=now - timedelta(days=3), energy_used=100)
    EnergyPrediction.objects.create(
        pool=pool,
        made_at=now,
        horizon_hours=1,
        target_at=now + timedelta(hours=1),
        predicted_energy=500,
        lower_energy=400,
        upper_energy=600,
        model="test",
    )
    body = owner_client.get(analytics_url(partner.pk)).json()
    (series,) = body["energy_24h"]
    assert series["pool_id"] == pool.pk
    assert [(p["used"], p["available"]) for p in series["points"]] == [(300, 700)]
    assert len(body["energy_daily"][0]["points"]) == 2
    (forecast,) = body["forecast"]
    assert forecast["points"][0]["predicted"] == 500
    assert forecast["points"][0]["lower"] == 400


def test_analytics_query_count_is_constant_in_pools_and_days(owner_client, partner):
    pool = _busy_pool(partner)
    PoolSnapshotFactory(pool=pool, taken_at=timezone.now() - timedelta(days=5))
    base = _queries(owner_client, analytics_url(partner.pk, "?days=7"))
    for _ in range(5):
        p = _busy_pool(partner)
        for d in range(20):
            PoolSnapshotFactory(pool=p, taken_at=timezone.now() - timedelta(days=d, hours=1))
    assert _queries(owner_client, analytics_url(partner.pk, "?days=90")) == base


def test_global_analytics_is_for_verified_staff(staff_client, owner_client, client, partner):
    pool = EnergyPoolFactory(partner=partner)
    EnergyUsageLogFactory(pool=pool, kind=EnergyUsageLog.Kind.WITHDRAWAL, energy_used=10)
    EnergyUsageLogFactory(kind=EnergyUsageLog.Kind.WITHDRAWAL, energy_used=20)
    response = staff_client.get("/api/v1/energy/global/analytics?days=3")
    assert response.status_code == 200
    assert response.json()["partner_id"] is None
    assert response.json()["totals"]["pooled_energy"] == 30
    assert owner_client.get("/api/v1/energy/global/analytics").status_code == 403
    assert client.get("/api/v1/energy/global/analytics").status_code in (401, 403)
    assert staff_client.get("/api/v1/energy/global/analytics?days=-1").status_code == 400


def test_global_dashboard_filters_and_refuses_partners(staff_client, owner_client, partner):
    mine = _busy_pool(partner)
    paused = EnergyPoolFactory(status=EnergyPool.Status.PAUSED)
    JobRun.objects.create(job="sync_pools", started_at=timezone.now(), status="succeeded")
    body = staff_client.get("/api/v1/energy/global/dashboard").json()
    assert {p["pool_id"] for p in body["pools"]} == {mine.pk, paused.pk}
    assert {p["partner_id"] for p in body["partners"]} == {partner.pk, paused.partner_id}
    assert body["jobs"][0]["job"] == "sync_pools"
    assert body["recent_jobs"][0]["status"] == "succeeded"
    only = staff_client.get(f"/api/v1/energy/global/dashboard?partner={partner.pk}").json()
    assert [p["pool_id"] for p in only["pools"]] == [mine.pk]
    only = staff_client.get("/api/v1/energy/global/dashboard?status=paused").json()
    assert [p["pool_id"] for p in only["pools"]] == [paused.pk]
    bad = staff_client.get("/api/v1/energy/global/dashboard?status=sleeping&x=1")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"status"}
    assert owner_client.get("/api/v1/energy/global/dashboard").status_code == 403


def test_global_dashboard_query_count_is_constant_in_pools(staff_client, partner):
    _busy_pool(partner)
    one = _queries(staff_client, "/api/v1/energy/global/dashboard")
    for _ in range(5):
        _busy_pool(partner)
        _busy_pool(EnergyPoolFactory().partner)
    assert _queries(staff_client, "/api/v1/energy/global/dashboard") == one


def test_days_are_utc_calendar_days(owner_client, partner):
    pool = EnergyPoolFactory(partner=partner)
    midnight = datetime.now(tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    EnergyUsageLogFactory(pool=pool, energy_used=1, at=midnight - timedelta(seconds=1))
    EnergyUsageLogFactory(pool=pool, energy_used=2, at=midnight)
    body = owner_client.get(analytics_url(partner.pk, "?days=2")).json()
    assert [d["energy_used"] for d in body["daily"]] == [1, 2]


def test_the_hand_written_card_equals_the_declared_fields(partner):
    from rest_framework import serializers

    from dashboard.apis import PoolCardSerializer
    from dashboard.selectors import pool_cards

    _busy_pool(partner, last_synced_at=timezone.now(), warning_threshold=Decimal("70.5"))
    EnergyPoolFactory(partner=partner, energy_limit=0, energy_used=5)  # never synced, 100 %
    pools = list(EnergyPool.objects.select_related("partner").filter(partner=partner))
    for card in pool_cards(pools=pools):
        serializer = PoolCardSerializer()
        generic = serializers.Serializer.to_representation(serializer, card)
        assert serializer.to_representation(card) == dict(generic)


def test_the_hand_built_dashboard_equals_the_serializer_over_models(partner):
    """The partner dashboard is built from plain rows (`partner_dashboard`,
    `dashboard_output`); the declared serializer over the model path (`pool_cards`) says the
    same, field for field."""
    from dashboard.apis import DashboardOutputSerializer, dashboard_output
    from dashboard.selectors import _pools, partner_dashboard, pool_cards
    from pools.selectors import energy_totals

    now = timezone.now()
    pool = _busy_pool(
        partner,
        last_synced_at=now,
        energy_limit=1_000_000,
        energy_used=600_000,
        reserved_energy=150_000,
        warning_threshold=Decimal("70.5"),
    )
    EnergyUsageLogFactory(pool=pool, energy_used=10**8, at=now - timedelta(hours=1))
    EnergyPoolFactory(partner=partner, energy_limit=0, energy_used=5)  # never synced, 100 %
    EnergyPoolFactory(partner=partner, status=EnergyPool.Status.ARCHIVED)
    EnergyAlertFactory(pool=pool, kind="stale_sync", acknowledged_at=now)
    AlertChannelFactory(partner=partner, name="pager", is_active=False)
    PriceQuoteFactory(price_sun=Decimal("210.5"), quoted_at=now - timedelta(minutes=5))
    WithdrawalFactory(partner=partner, pool=pool, amount=Decimal("12.5"))
    _busy_pool(EnergyPoolFactory().partner)  # another partner's

    data = partner_dashboard(partner_id=partner.pk, now=now)
    cards = pool_cards(pools=list(_pools(partner_id=partner.pk, now=now)), now=now)
    reference = DashboardOutputSerializer(
        {**data, "pools": cards, "totals": energy_totals([c.energy for c in cards])}
    ).data
    output = dashboard_output(data)
    assert output == reference
    assert [c["level"] for c in output["pools"]] == ["warning", "emergency"]
    assert output["pools"][0]["days_left"] is not None
    assert output["prices"]
    assert output["channels"]
    assert len(output["alerts"]) == 2
    assert output["recent_withdrawals"][0]["amount"] == "12.500000"
