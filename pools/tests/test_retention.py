"""Thinning old snapshots and price quotes (the daily cleanup's part for pools)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from operations.tasks import cleanup
from pools.models import PoolSnapshot, PriceQuote
from pools.services.retention import time_series_thin
from pools.tests.factories import EnergyPoolFactory, PoolSnapshotFactory, PriceQuoteFactory

pytestmark = pytest.mark.django_db


def _hour_start(at):
    return at.replace(minute=0, second=0, microsecond=0)


def test_old_snapshots_keep_the_last_of_each_hour_then_of_each_day():
    pool, other = EnergyPoolFactory(), EnergyPoolFactory()
    now = timezone.now()
    recent = _hour_start(now - timedelta(days=2))
    week_old = _hour_start(now - timedelta(days=10))
    ancient = (now - timedelta(days=100)).replace(hour=5, minute=0, second=0, microsecond=0)
    for base in (recent, week_old, ancient):
        for minutes in (0, 20, 40, 70):  # three in one hour, one in the next
            for p in (pool, other):
                PoolSnapshotFactory(pool=p, taken_at=base + timedelta(minutes=minutes))
    for hours in (3, 9):  # more of the ancient day
        PoolSnapshotFactory(pool=pool, taken_at=ancient + timedelta(hours=hours))

    removed = time_series_thin(batch=3)  # small batches: several rounds

    kept = {
        p.pk: sorted(PoolSnapshot.objects.filter(pool=p).values_list("taken_at", flat=True))
        for p in (pool, other)
    }
    recent_all = [recent + timedelta(minutes=m) for m in (0, 20, 40, 70)]
    week_hourly = [week_old + timedelta(minutes=40), week_old + timedelta(minutes=70)]
    assert kept[pool.pk] == [ancient + timedelta(hours=9), *week_hourly, *recent_all]
    assert kept[other.pk] == [ancient + timedelta(minutes=70), *week_hourly, *recent_all]
    assert removed == 2 * 2 + (5 + 3)  # a week old: 2 a pool; 100 days: all but one a day
    assert time_series_thin() == 0  # idempotent


def test_old_price_quotes_are_thinned_per_source_and_term_and_cleanup_runs_it():
    now = timezone.now()
    week_old = _hour_start(now - timedelta(days=10))
    for minutes in (0, 5, 10):
        PriceQuoteFactory(quoted_at=week_old + timedelta(minutes=minutes))
        for days in (1, 3):
            PriceQuoteFactory(
                source="market",
                kind=PriceQuote.Kind.RENTAL,
                duration_days=days,
                quoted_at=week_old + timedelta(minutes=minutes),
            )
    PriceQuoteFactory(quoted_at=now)
    assert cleanup() >= 6
    rows = set(PriceQuote.objects.values_list("source", "duration_days", "quoted_at"))
    last = week_old + timedelta(minutes=10)
    assert rows == {
        ("chain", None, last),
        ("market", 1, last),
        ("market", 3, last),
        ("chain", None, PriceQuote.objects.latest("quoted_at").quoted_at),
    }
