"""Prediction endpoints: patterns in the partner's zone, forecasts, priced recommendations;
outsiders get 404, bad parameters 400."""

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone
from tronpy.keys import PrivateKey

from pools.models import PriceQuote
from pools.tests.factories import EnergyPoolFactory, EnergyUsageLogFactory, PriceQuoteFactory
from predictions.selectors import hour_floor
from predictions.tests.factories import EnergyPredictionFactory

pytestmark = pytest.mark.django_db


def test_patterns_are_read_in_the_partners_time_zone(partner, key_client):
    partner.time_zone = "Asia/Seoul"
    partner.save(update_fields=["time_zone"])
    pool = EnergyPoolFactory(partner=partner)
    now = hour_floor(timezone.now())
    # Every day at 00:00 UTC = 09:00 in Seoul, for four weeks, the last one before the hour
    # under way (run between 00:00 and 01:00 UTC, today's would not count yet: it failed so).
    last = (now - timedelta(hours=1)).replace(hour=0)
    first = last - timedelta(days=27)
    for day in range(28):
        EnergyUsageLogFactory(pool=pool, energy_used=64_285, at=first + timedelta(days=day))
    body = key_client.get(f"/api/v1/energy/patterns/{partner.pk}").json()
    together, mine = body["patterns"]
    assert together["pool_id"] is None
    assert mine["pool_id"] == pool.pk
    assert mine["time_zone"] == "Asia/Seoul"
    assert mine["peak_hours"][0] == 9
    # Four weeks: each weekday's 09:00 slot saw 64,285 every week.
    assert all(row[9] == pytest.approx(64_285) for row in mine["profile"])
    assert all(row[0] == 0 for row in mine["profile"])
    assert mine["anomalies"] == []


def test_patterns_flag_an_hour_far_outside_the_pattern(partner, key_client):
    pool = EnergyPoolFactory(partner=partner)
    now = hour_floor(timezone.now())
    for day in range(1, 28):
        EnergyUsageLogFactory(pool=pool, energy_used=64_285, at=now - timedelta(days=day))
    spike_at = now - timedelta(hours=5)
    EnergyUsageLogFactory(pool=pool, energy_used=100 * 64_285, at=spike_at)
    body = key_client.get(f"/api/v1/energy/patterns/{partner.pk}?pool={pool.pk}").json()
    (pattern,) = [p for p in body["patterns"] if p["pool_id"] == pool.pk]
    (anomaly,) = pattern["anomalies"]
    assert datetime.fromisoformat(anomaly["at"].replace("Z", "+00:00")) == spike_at.astimezone(UTC)
    assert anomaly["expected"] == 0
    assert anomaly["sigmas"] > 3


def test_patterns_scope_and_bad_parameters(partner, other_partner, key_client, outsider_key_client):
    theirs = EnergyPoolFactory(partner=other_partner)
    assert outsider_key_client.get(f"/api/v1/energy/patterns/{partner.pk}").status_code == 404
    assert (
        key_client.get(f"/api/v1/energy/patterns/{partner.pk}?pool={theirs.pk}").status_code == 404
    )
    bad = key_client.get(f"/api/v1/energy/patterns/{partner.pk}?pool=abc")
    assert bad.status_code == 400
    assert "pool" in bad.json()["error"]["fields"]
    unknown = key_client.get(f"/api/v1/energy/patterns/{partner.pk}?weeks=3")
    assert unknown.status_code == 400
    assert "weeks" in unknown.json()["error"]["fields"]


def test_pool_forecast_series_accuracy_and_scope(
    partner, key_client, outsider_key_client, django_assert_num_queries
):
    pool = EnergyPoolFactory(partner=partner, energy_limit=2_400_000)
    made = hour_floor(timezone.now())
    EnergyPredictionFactory(
        pool=pool,
        made_at=made,
        horizon_hours=24,
        predicted_energy=2_400_000,
        lower_energy=1_200_000,
        upper_energy=4_800_000,
    )
    old = made - timedelta(days=2)
    EnergyPredictionFactory(
        pool=pool,
        made_at=old,
        horizon_hours=24,
        actual_energy=500_000,
        predicted_energy=400_000,
        abs_error=100_000,
        covered=True,
    )
    EnergyPredictionFactory(
        pool=pool,
        made_at=old - timedelta(hours=1),
        horizon_hours=24,
        actual_energy=900_000,
        predicted_energy=600_000,
        abs_error=300_000,
        covered=False,
    )
    url = f"/api/v1/pools/{pool.pk}/forecast?horizon=24"
    response = key_client.get(url)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["predicted_energy"] == 2_400_000
    assert len(body["series"]) == 24
    assert body["series"][0]["mean"] == 100_000
    assert body["series"][0]["upper"] == 200_000
    assert body["accuracy"] == {"scored": 2, "mae": 200_000.0, "coverage": 0.5}
    assert outsider_key_client.get(url).status_code == 404
    bad = key_client.get(f"/api/v1/pools/{pool.pk}/forecast?horizon=12")
    assert bad.status_code == 400
    assert "horizon" in bad.json()["error"]["fields"]
    empty = key_client.get(f"/api/v1/pools/{EnergyPoolFactory(partner=partner).pk}/forecast")
    assert empty.json()["series"] == []
    assert empty.json()["predicted_energy"] is None


def account_resource(devnet, address):
    reply = httpx.post(
        f"{devnet.url}/wallet/getaccountresource", json={"address": address, "visible": True}
    )
    return reply.json()


def test_recommendations_are_priced_from_recorded_quotes_and_the_chain(
    devnet, partner, key_client, outsider_key_client
):
    address = PrivateKey.random().public_key.to_base58check_address()
    devnet.fund(address, 10)
    devnet.mine()
    made = hour_floor(timezone.now())
    # Short: 240,000 limit (10,000 an hour back), nothing available, 30,000 an hour needed.
    short = EnergyPoolFactory(
        partner=partner, address=address, energy_limit=240_000, energy_used=240_000
    )
    EnergyPredictionFactory(
        pool=short,
        made_at=made,
        horizon_hours=168,
        predicted_energy=168 * 20_000,
        lower_energy=0,
        upper_energy=168 * 30_000,
    )
    # Spare: 24M limit, 1M an hour back, uses at most 100,000 an hour.
    spare = EnergyPoolFactory(partner=partner, energy_limit=24_000_000)
    EnergyPredictionFactory(
        pool=spare,
        made_at=made,
        horizon_hours=168,
        predicted_energy=168 * 50_000,
        lower_energy=0,
        upper_energy=168 * 100_000,
    )
    PriceQuoteFactory(
        kind=PriceQuote.Kind.ENERGY_FEE,
        price_sun=Decimal(100),
        quoted_at=timezone.now() - timedelta(hours=1),
    )
    PriceQuoteFactory(kind=PriceQuote.Kind.ENERGY_FEE, price_sun=Decimal(210))
    PriceQuoteFactory(
        source="market", kind=PriceQuote.Kind.RENTAL, price_sun=Decimal("60"), duration_days=3
    )
    PriceQuoteFactory(
        source="market",
        kind=PriceQuote.Kind.RENTAL,
        price_sun=Decimal("45"),
        duration_days=7,
        quoted_at=timezone.now() - timedelta(minutes=5),
    )
    PriceQuoteFactory(
        source="market",
        kind=PriceQuote.Kind.RENTAL,
        price_sun=Decimal("50"),
        duration_days=7,
        quoted_at=timezone.now() - timedelta(minutes=10),
    )
    response = key_client.get(f"/api/v1/energy/recommendations/{partner.pk}?days=7")
    assert response.status_code == 200, response.content
    body = response.json()
    resource = account_resource(devnet, address)
    ratio = Decimal(resource["TotalEnergyLimit"]) / Decimal(resource["TotalEnergyWeight"])
    assert Decimal(body["prices"]["energy_per_trx"]) == pytest.approx(ratio)
    assert Decimal(body["prices"]["energy_fee_sun"]) == 210
    assert Decimal(body["prices"]["rental_sun_per_energy_day"]) == 45
    by_kind = {r["kind"]: r for r in body["recommendations"]}
    assert set(by_kind) == {"stake", "rent", "move_delegation"}
    # Hand count: the elapsed part of this hour is skipped (0 hours: made this hour).
    # Each hour +10,000 (cap 240,000), -30,000 used: 20,000 short every hour, 168 hours.
    shortfall = 168 * 20_000
    per_day = shortfall // 7
    stake = by_kind["stake"]
    assert stake["shortfall_energy"] == shortfall
    assert stake["energy_per_day"] == per_day
    trx = math.ceil(Decimal(per_day) / ratio)
    assert stake["trx_amount_sun"] == trx * 1_000_000
    assert stake["burn_cost_sun"] == shortfall * 210
    rent = by_kind["rent"]
    assert rent["cost_sun"] == per_day * 7 * 45
    assert rent["burn_cost_sun"] == shortfall * 210
    move = by_kind["move_delegation"]
    assert move["from_pool_id"] == spare.pk
    assert move["covers_energy"] == shortfall
    assert move["cost_sun"] == 0
    assert (
        outsider_key_client.get(f"/api/v1/energy/recommendations/{partner.pk}").status_code == 404
    )
    for bad in ("days=0", "days=8", "days=x", "pool=1"):
        reply = key_client.get(f"/api/v1/energy/recommendations/{partner.pk}?{bad}")
        assert reply.status_code == 400, bad
        assert bad.split("=")[0] in reply.json()["error"]["fields"]


def test_the_monitor_shows_each_pools_forecast_accuracy(partner, key_client):
    pool = EnergyPoolFactory(partner=partner)
    fresh = EnergyPoolFactory(partner=partner)
    made = hour_floor(timezone.now()) - timedelta(days=3)
    for i, (error, covered) in enumerate([(100_000, True), (200_000, True), (600_000, False)]):
        EnergyPredictionFactory(
            pool=pool,
            made_at=made - timedelta(hours=i),
            actual_energy=1,
            abs_error=error,
            covered=covered,
        )
    EnergyPredictionFactory(pool=pool, made_at=made, horizon_hours=168)  # unscored
    body = key_client.get(f"/api/v1/energy/monitor/{partner.pk}").json()
    rows = {row["pool_id"]: row for row in body["pools"]}
    assert rows[pool.pk]["forecast_scored"] == 3
    assert rows[pool.pk]["forecast_mae"] == pytest.approx(300_000)
    assert rows[pool.pk]["forecast_coverage"] == pytest.approx(2 / 3)
    assert rows[fresh.pk]["forecast_scored"] == 0
    assert rows[fresh.pk]["forecast_mae"] is None
