"""refresh_predictions: stored forecasts, scoring against actual usage, idempotency, the job."""

from datetime import timedelta

import pytest
from django.utils import timezone

from operations.models import JobRun
from pools.models import EnergyPool
from pools.tests.factories import EnergyPoolFactory, EnergyUsageLogFactory
from predictions.models import EnergyPrediction
from predictions.selectors import accuracy_totals, forecast_accuracy, hour_floor
from predictions.services import predictions_refresh
from predictions.tasks import refresh_predictions

pytestmark = pytest.mark.django_db


def pool_with_history(hours, energy=64_285, now=None):
    now = hour_floor(now or timezone.now())
    pool = EnergyPoolFactory(energy_limit=5_000_000)
    EnergyPool.objects.filter(pk=pool.pk).update(created_at=now - timedelta(hours=hours))
    EnergyUsageLogFactory.create_batch(
        1, pool=pool, energy_used=energy, at=now - timedelta(hours=hours)
    )
    for i in range(1, hours):
        if i % 3 == 0:
            EnergyUsageLogFactory(pool=pool, energy_used=energy, at=now - timedelta(hours=i))
    return pool


def test_refresh_stores_both_horizons_and_is_idempotent_within_the_hour():
    now = hour_floor(timezone.now())  # so now + 20 min is the same hour, whenever this runs
    pool = pool_with_history(96, now=now)
    EnergyPoolFactory(status=EnergyPool.Status.ARCHIVED)
    report = predictions_refresh(now=now)
    assert report.forecast == 1
    rows = {p.horizon_hours: p for p in EnergyPrediction.objects.filter(pool=pool)}
    assert set(rows) == {24, 168}
    day = rows[24]
    assert day.made_at == hour_floor(now)
    assert day.target_at == day.made_at + timedelta(hours=24)
    assert len(day.series["mean"]) == 24
    assert len(rows[168].series["upper"]) == 168
    # One transfer every three hours: about 8 a day.
    assert 4 * 64_285 < day.predicted_energy < 12 * 64_285
    assert day.lower_energy <= day.predicted_energy <= day.upper_energy
    assert day.predicted_energy == pytest.approx(sum(day.series["mean"]), abs=24)
    before = list(EnergyPrediction.objects.order_by("id").values())
    predictions_refresh(now=now + timedelta(minutes=20))
    assert list(EnergyPrediction.objects.order_by("id").values()) == before


def test_forecasts_are_scored_once_when_their_window_ends():
    start = timezone.now() - timedelta(hours=30)
    pool = pool_with_history(96, now=start)
    predictions_refresh(now=start)
    made = hour_floor(start)
    # What really happened in the 24 h window: two logs inside, one just after.
    EnergyUsageLogFactory(pool=pool, energy_used=100_000, at=made + timedelta(hours=1))
    EnergyUsageLogFactory(pool=pool, energy_used=50_000, at=made + timedelta(hours=23))
    EnergyUsageLogFactory(pool=pool, energy_used=999_999, at=made + timedelta(hours=24))
    later = start + timedelta(hours=25)
    predictions_refresh(now=later)
    day = EnergyPrediction.objects.get(pool=pool, made_at=made, horizon_hours=24)
    assert day.actual_energy == 150_000
    assert day.abs_error == abs(150_000 - day.predicted_energy)
    assert day.covered == (day.lower_energy <= 150_000 <= day.upper_energy)
    week = EnergyPrediction.objects.get(pool=pool, made_at=made, horizon_hours=168)
    assert week.actual_energy is None
    # A log arriving late does not rescore: scores are final.
    EnergyUsageLogFactory(pool=pool, energy_used=1, at=made + timedelta(hours=2))
    predictions_refresh(now=later)
    day.refresh_from_db()
    assert day.actual_energy == 150_000
    accuracy = forecast_accuracy(pool_ids=[pool.pk])[pool.pk]
    assert accuracy.scored == 1
    assert accuracy.mae == day.abs_error
    assert accuracy.coverage == (1.0 if day.covered else 0.0)
    assert accuracy_totals()[24].scored == 1


def test_the_job_runs_under_its_lease_and_records_the_run():
    pool_with_history(30)
    assert refresh_predictions.apply().get() == 1
    run = JobRun.objects.get(job="refresh_predictions")
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.items == 1
    assert EnergyPrediction.objects.count() == 2
