"""Keeping the pool time series small: old snapshots and price quotes are thinned out.

Snapshots are points in time (a pool's chain numbers at one sync), so thinning keeps the
last point of each period and deletes the rest: after `HOURLY_AFTER` one per pool and hour,
after `DAILY_AFTER` one per pool and day. Price quotes likewise, per (kind, source, term).
Usage logs (every energy movement, the history forecasts and analytics add up) are never
thinned. Deletions run in batches of `batch` rows, each its own short transaction, so the
job never holds long locks beside sync writing new rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db.models import F, Model, QuerySet, Window
from django.db.models.functions import RowNumber, Trunc
from django.utils import timezone

from pools.models import PoolSnapshot, PriceQuote

HOURLY_AFTER = timedelta(days=7)
DAILY_AFTER = timedelta(days=90)


def _thin(
    queryset: QuerySet[Any],
    *,
    time_field: str,
    partition: Sequence[str],
    period: str,
    batch: int,
) -> int:
    """Delete every row of `queryset` but the latest of each `partition` × `period`."""
    ranked = queryset.annotate(
        rank=Window(
            expression=RowNumber(),
            partition_by=[*(F(name) for name in partition), Trunc(time_field, period)],
            order_by=[F(time_field).desc(), F("pk").desc()],
        )
    ).filter(rank__gt=1)
    model: type[Model] = queryset.model
    removed = 0
    while True:
        ids = list(ranked.values_list("pk", flat=True)[:batch])
        if not ids:
            return removed
        removed += model._default_manager.filter(pk__in=ids).delete()[0]


def time_series_thin(*, batch: int = 5000) -> int:
    """The `cleanup` job's part for pools: thin old snapshots and price quotes. Idempotent:
    a second run finds nothing to remove. Returns rows removed."""
    now = timezone.now()
    removed = 0
    for model, time_field, partition in (
        (PoolSnapshot, "taken_at", ["pool_id"]),
        (PriceQuote, "quoted_at", ["kind", "source", "duration_days"]),
    ):
        rows = model._default_manager.all()
        hourly = rows.filter(
            **{f"{time_field}__lt": now - HOURLY_AFTER, f"{time_field}__gte": now - DAILY_AFTER}
        )
        daily = rows.filter(**{f"{time_field}__lt": now - DAILY_AFTER})
        removed += _thin(
            hourly, time_field=time_field, partition=partition, period="hour", batch=batch
        )
        removed += _thin(
            daily, time_field=time_field, partition=partition, period="day", batch=batch
        )
    return removed
