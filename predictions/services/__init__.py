"""Writes of the predictions app: the hourly `refresh_predictions` job's work. Energy
sharing (`rebalance.py`) and top-up by rental (`topup.py`) have their own modules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Abs, Coalesce
from django.utils import timezone

from pools.models import EnergyPool, EnergyUsageLog
from predictions.forecasting import MAX_HISTORY_HOURS, WEEK, forecast_hourly
from predictions.models import EnergyPrediction
from predictions.selectors import (
    hour_floor,
    hourly_usage_series,
)

HORIZONS = (24, WEEK)
LEVEL = 0.8


@dataclass(frozen=True)
class RefreshReport:
    forecast: int
    scored: int


def predictions_refresh(*, now: datetime | None = None) -> RefreshReport:
    """Forecast every active or draining energy pool from the current hour, and score the
    forecasts whose window has ended.

    Idempotent within an hour: forecasts are keyed by (pool, hour made, horizon) and
    rewritten in place; a forecast is scored once (only unscored rows are touched). History:
    the pool's hourly usage (usage logs) over at most MAX_HISTORY_HOURS, from the hour the
    pool was added; hours without a log count as zero.
    """
    made_at = hour_floor(now or timezone.now())
    pools = list(
        EnergyPool.objects.filter(
            role=EnergyPool.Role.ENERGY,
            status__in=[EnergyPool.Status.ACTIVE, EnergyPool.Status.DRAINING],
        ).only("id", "created_at")
    )
    since = made_at - timedelta(hours=MAX_HISTORY_HOURS)
    usage = hourly_usage_series(pool_ids=[p.pk for p in pools], since=since, until=made_at)
    rows: list[EnergyPrediction] = []
    for pool in pools:
        start = max(since, hour_floor(pool.created_at))
        skipped = int((start - since) / timedelta(hours=1))
        history = usage[pool.pk][skipped:]
        result = forecast_hourly(history, start, WEEK, level=LEVEL)
        for horizon in HORIZONS:
            if horizon == WEEK:
                mean, lower, upper = result.total_mean, result.total_lower, result.total_upper
            else:
                mean = result.day_total_mean
                lower, upper = result.day_total_lower, result.day_total_upper
            predicted = round(mean)
            rows.append(
                EnergyPrediction(
                    pool_id=pool.pk,
                    made_at=made_at,
                    horizon_hours=horizon,
                    target_at=made_at + timedelta(hours=horizon),
                    predicted_energy=predicted,
                    lower_energy=min(predicted, max(0, int(lower))),
                    upper_energy=max(predicted, int(upper + 0.999)),
                    level=LEVEL,
                    model=result.model[:64],
                    series={
                        "mean": [round(v) for v in result.mean[:horizon]],
                        "lower": [int(v) for v in result.lower[:horizon]],
                        "upper": [int(v + 0.999) for v in result.upper[:horizon]],
                    },
                )
            )
    with transaction.atomic():
        EnergyPrediction.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["pool", "made_at", "horizon_hours"],
            update_fields=[
                "target_at",
                "predicted_energy",
                "lower_energy",
                "upper_energy",
                "level",
                "model",
                "series",
            ],
        )
    scored = predictions_score(now=made_at)
    return RefreshReport(forecast=len(pools), scored=scored)


def predictions_score(*, now: datetime) -> int:
    """Score every unscored forecast whose window ended by `now`: the energy actually used
    in [made_at, target_at) from the usage logs, the absolute error, and whether the interval
    covered it. Scored rows are never scored again."""
    actual = (
        EnergyUsageLog.objects.filter(
            pool_id=OuterRef("pool_id"), at__gte=OuterRef("made_at"), at__lt=OuterRef("target_at")
        )
        .order_by()
        .values("pool_id")
        .annotate(total=Sum("energy_used"))
        .values("total")
    )
    with transaction.atomic():
        count = EnergyPrediction.objects.filter(
            actual_energy__isnull=True, target_at__lte=now
        ).update(actual_energy=Coalesce(Subquery(actual), Value(0)))
        EnergyPrediction.objects.filter(actual_energy__isnull=False, abs_error__isnull=True).update(
            abs_error=Abs(F("actual_energy") - F("predicted_energy")),
            covered=Case(
                When(
                    Q(lower_energy__lte=F("actual_energy"))
                    & Q(upper_energy__gte=F("actual_energy")),
                    then=Value(True),
                ),
                default=Value(False),
            ),
        )
    return count
