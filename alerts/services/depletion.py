"""When a pool's energy runs out: the one place the depletion rule reads a burn rate from.

The depletion rule (alerts/services/rules.py) uses the forecast's pessimistic side when a pool
has a current forecast (`predictions.selectors.pool_depletion_estimates`); for a pool without
one (new, or the job has not run) it falls back to `energy_rates_per_hour`, the recent hourly
rate from the pools' usage logs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, Sum

from pools.models import EnergyUsageLog


def energy_rates_per_hour(*, pool_ids: Iterable[int] | None, now: datetime) -> dict[int, float]:
    """Energy each pool consumed per hour over the last `ALERT_DEPLETION_RATE_WINDOW_HOURS`
    (every kind of usage: withdrawals, emergency sends, staking, external). One query; pools
    without usage are absent. `pool_ids` None means every pool."""
    hours = settings.ALERT_DEPLETION_RATE_WINDOW_HOURS
    logs = EnergyUsageLog.objects.filter(at__gte=now - timedelta(hours=hours), at__lte=now)
    if pool_ids is not None:
        logs = logs.filter(pool_id__in=list(pool_ids))
    rows = logs.order_by().values("pool_id").annotate(total=Sum("energy_used"))
    return {row["pool_id"]: row["total"] / hours for row in rows if row["total"]}


def external_energy_since(*, since: datetime, now: datetime) -> dict[int, int]:
    """External usage (energy the platform did not spend) per pool since `since`."""
    rows = (
        EnergyUsageLog.objects.filter(
            Q(kind=EnergyUsageLog.Kind.EXTERNAL), at__gte=since, at__lte=now
        )
        .order_by()
        .values("pool_id")
        .annotate(total=Sum("energy_used"))
    )
    return {row["pool_id"]: row["total"] for row in rows if row["total"]}


def hours_until_depleted(
    *, available: int, queued: int, rate_per_hour: float, regeneration_per_hour: float
) -> float | None:
    """Hours until the energy a pool can still give is gone: what is available minus what
    the queue already waits for, drained at the rate less regeneration (a full limit a day).
    0 when it is already gone while something waits or drains; None when regeneration keeps
    up (nothing runs out)."""
    left = available - queued
    drain = rate_per_hour - regeneration_per_hour
    if left <= 0:
        return 0.0 if queued > 0 or drain > 0 else None
    if drain <= 0:
        return None
    return left / drain
