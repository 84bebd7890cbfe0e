"""Synthetic pool history for demos: weeks of hourly snapshots and usage with a daily and
weekly rhythm and a few spikes, so dashboards and forecasts have something to show.

Used only by `seed_demo` (DEBUG). The usage is logged as `external` — the platform did not
cause it — and the energy follows the chain's 24-hour linear recovery.
"""

from __future__ import annotations

import hashlib
import math
import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from pools.models import EnergyPool, EnergyUsageLog, PoolSnapshot

# Share of a day's usage in each UTC hour: users in UTC+9 are busiest 10:00-23:00 local.
_LOCAL_SHAPE = [
    0.3,
    0.2,
    0.15,
    0.1,
    0.1,
    0.15,
    0.3,
    0.6,
    0.9,
    1.1,
    1.3,
    1.4,
    1.4,
    1.3,
    1.3,
    1.4,
    1.5,
    1.6,
    1.7,
    1.8,
    1.7,
    1.4,
    1.0,
    0.6,
]
HOURLY_SHAPE = [_LOCAL_SHAPE[(hour + 9) % 24] / (sum(_LOCAL_SHAPE) / 24) for hour in range(24)]
WEEKDAY_FACTOR = [1.05, 1.0, 1.0, 1.05, 1.15, 0.8, 0.75]  # Monday first


@transaction.atomic
def pool_history_generate(*, pool: EnergyPool, days: int = 28) -> int:
    """Write `days` of hourly history ending an hour ago; returns the snapshots written.

    Deterministic per pool address. The pool's current numbers are not changed.
    """
    rng = random.Random(hashlib.sha256(pool.address.encode()).digest())
    limit = max(pool.energy_limit, 1)
    daily_target = limit * rng.uniform(0.55, 0.85)
    end = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=days)
    used = 0.0
    snapshots, logs = [], []
    at = start
    while at < end:
        factor = HOURLY_SHAPE[at.hour] * WEEKDAY_FACTOR[at.weekday()]
        hourly = daily_target / 24 * factor * rng.lognormvariate(0, 0.15)
        if rng.random() < 0.004:  # a spike: a batch payout, an exchange listing
            hourly *= rng.uniform(3, 6)
        used *= 1 - 1 / 24  # an hour of linear recovery over 24 h
        hourly = min(hourly, max(0.0, limit - used))
        used += hourly
        if hourly >= 1:
            logs.append(
                EnergyUsageLog(
                    pool=pool,
                    kind=EnergyUsageLog.Kind.EXTERNAL,
                    energy_used=math.floor(hourly),
                    at=at,
                )
            )
        snapshots.append(
            PoolSnapshot(
                pool=pool,
                taken_at=at,
                energy_limit=pool.energy_limit,
                energy_used=math.floor(used),
                staked_trx_sun=pool.staked_trx_sun,
                trx_balance_sun=pool.trx_balance_sun,
            )
        )
        at += timedelta(hours=1)
    PoolSnapshot.objects.bulk_create(snapshots)
    EnergyUsageLog.objects.bulk_create(logs)
    return len(snapshots)
