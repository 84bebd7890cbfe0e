"""Depletion: the arithmetic by hand, and the selector's inputs (reservations, queue)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from pools.tests.factories import EnergyPoolFactory
from predictions.selectors import depletion_hours, hour_floor, pool_depletion_estimates
from predictions.tests.factories import EnergyPredictionFactory
from withdrawals.tests.factories import QueueEntryFactory


def test_depletion_hours_by_hand():
    # limit 2,400 regains 100 an hour; 150 available, capped at 2,400 - 0 committed.
    # hour 0: 150 + 100 = 250, use 200 -> 50; hour 1: 150, use 200 -> serves 150 of 200:
    # out after 1 + 150/200 = 1.75 h, 50 short; hour 2: 0 + 100, use 200 -> 100 short.
    hours, short = depletion_hours(available=150, limit=2400, committed=0, upper=[200, 200, 200])
    assert hours == pytest.approx(1.75)
    assert short == pytest.approx(150)


def test_depletion_hours_never_runs_out_and_respects_the_cap():
    # 900 available, cap 1,000 (limit 2,400 - 1,400 committed): +100 -> 1,000, use 100 -> 900,
    # and so on: lasts forever at 100 an hour.
    hours, short = depletion_hours(available=900, limit=2400, committed=1400, upper=[100] * 48)
    assert hours is None
    assert short == 0
    # The cap binds: regeneration never lifts it past 1,000, so 1,050 an hour runs out at once.
    hours, short = depletion_hours(available=1000, limit=2400, committed=1400, upper=[1050])
    assert hours == pytest.approx(1000 / 1050)
    assert short == pytest.approx(50)


def test_depletion_hours_already_out():
    hours, short = depletion_hours(available=-500, limit=2400, committed=3000, upper=[10, 10])
    assert hours == 0.0
    # -500 + 100 = -400 (cap -600 binds: -600), nothing served either hour.
    assert short == pytest.approx(20)


@pytest.mark.django_db
def test_estimates_subtract_reservations_and_queue_in_two_queries(django_assert_num_queries):
    now = timezone.now()
    made = hour_floor(now)
    pool = EnergyPoolFactory(energy_limit=2_400_000, energy_used=1_000_000, reserved_energy=200_000)
    # The partner's one queue, served by its pools in proportion to their limits: a second
    # pool of twice the limit takes two thirds of it.
    EnergyPoolFactory(partner=pool.partner, energy_limit=4_800_000)
    QueueEntryFactory(withdrawal__partner=pool.partner, energy_needed=900_000)
    QueueEntryFactory(withdrawal__partner=pool.partner, energy_needed=300_000)
    EnergyPredictionFactory(
        pool=pool,
        made_at=made,
        horizon_hours=168,
        series={"mean": [150_000] * 168, "lower": [100_000] * 168, "upper": [300_000] * 168},
    )
    idle = EnergyPoolFactory(energy_limit=2_400_000)
    with django_assert_num_queries(2):
        estimates = pool_depletion_estimates(pool_ids=[pool.pk, idle.pk], now=made)
    e = estimates[pool.pk]
    assert e.queued_energy == 400_000
    # 2.4M - 1.0M used - 0.2M reserved - 0.4M queued
    assert e.available == 800_000
    # Cap: 2.4M - 0.6M committed = 1.8M. Each hour +100k, -300k: a net 200k an hour from
    # 800k: after 3 hours 200k left; hour 4 (index 3): 300k, serves all -> 0; hour 5: 100k
    # of 300k -> out at 4 + 1/3 h.
    assert e.hours_left == pytest.approx(4 + 1 / 3)
    assert e.depletes_at == made + timedelta(hours=4 + 1 / 3)
    assert e.shortfall == 200_000 + 200_000 * (168 - 5)
    assert estimates[idle.pk].hours_left is None
    assert estimates[idle.pk].forecast_until is None


@pytest.mark.django_db
def test_a_stale_forecast_is_not_used():
    now = timezone.now()
    pool = EnergyPoolFactory(energy_limit=2_400_000)
    EnergyPredictionFactory(
        pool=pool,
        made_at=hour_floor(now) - timedelta(hours=5),
        horizon_hours=168,
        series={"mean": [9e9] * 168, "lower": [9e9] * 168, "upper": [9e9] * 168},
    )
    assert pool_depletion_estimates(pool_ids=[pool.pk], now=now)[pool.pk].hours_left is None
