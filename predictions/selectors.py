"""Reads of the predictions app: hourly usage, patterns, forecasts, accuracy, depletion and
recommendations. Partner scope comes from the caller, as everywhere (partners/selectors.py).

Depends on partners and pools only. The energy queued withdrawals wait for is read through
the partner's reverse relation to its queue (`queue_entries__energy_needed`), so withdrawals
is never imported. A partner has one queue, served by all its live energy pools: each pool
counts a share of it in proportion to its limit.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from partners.models import Partner
from pools.chain import chain_client
from pools.models import EnergyPool, EnergyUsageLog, PriceQuote
from predictions.forecasting import WEEK
from predictions.models import EnergyPrediction

SUN = 1_000_000
PATTERN_WEEKS = 4
ANOMALY_SIGMAS = 3.0
RECENT_FORECAST_HOURS = 2  # a forecast older than this is not "current"


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hourly_usage(
    *, pool_ids: Sequence[int], since: datetime, until: datetime
) -> dict[int, dict[datetime, float]]:
    """Energy used per pool and UTC hour in [since, until), hours without use absent (one query)."""
    rows = (
        EnergyUsageLog.objects.filter(pool_id__in=pool_ids, at__gte=since, at__lt=until)
        .annotate(hour=TruncHour("at", tzinfo=UTC))
        .order_by()
        .values_list("pool_id", "hour")
        .annotate(total=Sum("energy_used"))
    )
    result: dict[int, dict[datetime, float]] = defaultdict(dict)
    for pool_id, hour, total in rows:
        result[pool_id][hour.astimezone(UTC)] = float(total)
    return result


def _hourly_usage_series_portable(
    *, pool_ids: Sequence[int], since: datetime, hours: int
) -> dict[int, list[float]]:
    rows = (
        EnergyUsageLog.objects.filter(
            pool_id__in=list(pool_ids), at__gte=since, at__lt=since + timedelta(hours=hours)
        )
        .annotate(hour=TruncHour("at", tzinfo=UTC))
        .values("pool_id", "hour")
        .annotate(total=Sum("energy_used"))
        .order_by()
    )
    series = {pool_id: [0.0] * hours for pool_id in pool_ids}
    for row in rows:
        index = int((row["hour"] - since) / timedelta(hours=1))
        if 0 <= index < hours:
            series[row["pool_id"]][index] = float(row["total"] or 0)
    return series


def hourly_usage_series(
    *, pool_ids: Sequence[int], since: datetime, until: datetime
) -> dict[int, list[float]]:
    """Per pool, the energy used in each UTC hour of [since, until) (both on the hour), zeros
    included, as one list of floats from `since` (one query; hours as integers, so a
    thousand pools' eight weeks load in about a second)."""
    hours = int((until - since) / timedelta(hours=1))
    base = int(since.timestamp()) // 3600
    if connection.vendor != "postgresql":  # SQLite under `make run`: the ORM's hours
        return _hourly_usage_series_portable(pool_ids=pool_ids, since=since, hours=hours)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pool_id, floor(extract(epoch FROM at) / 3600)::bigint, sum(energy_used)"
            " FROM pools_energyusagelog"
            " WHERE pool_id = ANY(%s) AND at >= %s AND at < %s GROUP BY 1, 2",
            [list(pool_ids), since, until],
        )
        rows = cursor.fetchall()
    series = {pool_id: [0.0] * hours for pool_id in pool_ids}
    for pool_id, hour, total in rows:
        series[pool_id][int(hour) - base] = float(total)
    return series


# ---------------------------------------------------------------------------------------------
# Forecasts and accuracy


def latest_forecasts(
    *, pool_ids: Sequence[int], horizon_hours: int = WEEK
) -> dict[int, EnergyPrediction]:
    """The newest stored forecast of each pool for the horizon (one query)."""
    newest = (
        EnergyPrediction.objects.filter(pool_id=OuterRef("pool_id"), horizon_hours=horizon_hours)
        .order_by("-made_at")
        .values("pk")[:1]
    )
    rows = EnergyPrediction.objects.filter(
        pool_id__in=pool_ids, horizon_hours=horizon_hours, pk=Subquery(newest)
    )
    return {row.pool_id: row for row in rows}


def current_upper_series(
    *, pool_ids: Sequence[int], now: datetime, hours: int = WEEK
) -> dict[int, list[float]]:
    """Per pool with a current 7-day forecast (its newest, made within
    RECENT_FORECAST_HOURS): the pessimistic hourly usage from the current hour on, at most
    `hours` of it (one query). Only that slice is read: on PostgreSQL the newest forecast per
    pool and the slice are picked in SQL (`DISTINCT ON`, `jsonb_path_query_array`), so a
    thousand pools' six hours cost a few kilobytes, not their whole series."""
    since = now - timedelta(hours=RECENT_FORECAST_HOURS)
    if connection.vendor != "postgresql":  # SQLite under `make run`: the ORM's rows
        result: dict[int, list[float]] = {}
        for pool_id, forecast in latest_forecasts(pool_ids=pool_ids).items():
            if forecast.made_at < since:
                continue
            elapsed = max(0, int((now - forecast.made_at) / timedelta(hours=1)))
            result[pool_id] = [float(v) for v in forecast.series.get("upper", [])][elapsed:][:hours]
        return result
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pool_id, jsonb_path_query_array(series -> 'upper',"
            " ('lax $[' || e || ' to ' || (e + %s - 1) || ']')::jsonpath)::text"
            " FROM (SELECT DISTINCT ON (pool_id) pool_id, series,"
            " GREATEST(0, floor(extract(epoch FROM (%s - made_at)) / 3600))::bigint AS e"
            " FROM predictions_energyprediction"
            " WHERE pool_id = ANY(%s) AND horizon_hours = %s AND made_at >= %s"
            " ORDER BY pool_id, made_at DESC) newest",
            [hours, now, list(pool_ids), WEEK, since],
        )
        rows = cursor.fetchall()
    return {pool_id: [float(v) for v in json.loads(upper)] for pool_id, upper in rows}


@dataclass(frozen=True)
class Accuracy:
    scored: int
    mae: float | None
    coverage: float | None


def forecast_accuracy(*, pool_ids: Sequence[int], horizon_hours: int = 24) -> dict[int, Accuracy]:
    """Per pool: how many forecasts of the horizon were scored, their MAE (energy over the
    window) and the share whose interval covered the actual (one query)."""
    rows = (
        EnergyPrediction.objects.filter(
            pool_id__in=pool_ids, horizon_hours=horizon_hours, abs_error__isnull=False
        )
        .order_by()
        .values("pool_id")
        .annotate(
            n=Count("id"),
            errors=Sum("abs_error"),
            covered_n=Count("id", filter=Q(covered=True)),
        )
    )
    result = {pid: Accuracy(0, None, None) for pid in pool_ids}
    for row in rows:
        n = row["n"]
        result[row["pool_id"]] = Accuracy(n, row["errors"] / n, row["covered_n"] / n)
    return result


def accuracy_totals(*, pool_ids: Sequence[int] | None = None) -> dict[int, Accuracy]:
    """Per horizon, over all pools (or the given ones): scored count, MAE and coverage."""
    qs = EnergyPrediction.objects.filter(abs_error__isnull=False)
    if pool_ids is not None:
        qs = qs.filter(pool_id__in=pool_ids)
    rows = (
        qs.order_by()
        .values("horizon_hours")
        .annotate(n=Count("id"), errors=Sum("abs_error"), c=Count("id", filter=Q(covered=True)))
    )
    return {
        r["horizon_hours"]: Accuracy(r["n"], r["errors"] / r["n"], r["c"] / r["n"]) for r in rows
    }


# ---------------------------------------------------------------------------------------------
# Depletion


@dataclass(frozen=True)
class DepletionEstimate:
    """When a pool runs out at the forecast's pessimistic (upper) rate.

    `available`: limit - used - reserved (pending reservations) - queued withdrawals' energy;
    negative when the queue already asks for more than the pool has. `depletes_at` / `hours_left`
    are None when the pool lasts through the forecast (`forecast_until`), or when there is no
    current forecast (`forecast_until` None).
    """

    pool_id: int
    available: int
    queued_energy: int
    regeneration_per_hour: int
    hours_left: float | None
    depletes_at: datetime | None
    forecast_until: datetime | None
    shortfall: int  # energy the pessimistic forecast needs beyond what the pool can give


def depletion_hours(
    *, available: float, limit: int, committed: int, upper: Sequence[float]
) -> tuple[float | None, float]:
    """Walk the hourly pessimistic usage `upper`. Each hour the pool first regains limit/24
    (never above limit - committed: what pending reservations and the queue leave of a fully
    recovered pool), then serves that hour's usage from what it has. Returns the hours until
    it first cannot serve an hour's usage in full (the fraction within the hour that it still
    could; 0.0 if nothing is available now; None if it lasts the whole series) and the
    shortfall: the usage it could not serve."""
    regen = limit / 24
    cap = float(limit - committed)
    level = float(available)
    hours_left: float | None = 0.0 if available <= 0 else None
    shortfall = 0.0
    for i, use in enumerate(upper):
        level = min(level + regen, cap)
        served = min(use, max(level, 0.0))
        shortfall += use - served
        level -= served
        if hours_left is None and use > served:
            hours_left = i + served / use
    return hours_left, shortfall


def pool_depletion_estimates(
    *,
    pool_ids: Sequence[int],
    now: datetime | None = None,
    hours: int = WEEK,
    series: dict[int, list[float]] | None = None,
) -> dict[int, DepletionEstimate]:
    """Depletion of each pool from its newest 7-day forecast (two queries, whatever the number
    of pools; one when the caller passes `series`, the same `hours` of
    `current_upper_series`). For the alerts' depletion rule and energy sharing. Pools
    without a current forecast (none made in the last RECENT_FORECAST_HOURS) get hours_left
    None and forecast_until None."""
    now = now or timezone.now()
    partner_queue = (
        Partner.objects.filter(pk=OuterRef("partner_id"))
        .annotate(energy=Sum("queue_entries__energy_needed"))
        .values("energy")
    )
    partner_limits = (
        EnergyPool.objects.filter(
            partner_id=OuterRef("partner_id"),
            role=EnergyPool.Role.ENERGY,
            status__in=[EnergyPool.Status.ACTIVE, EnergyPool.Status.DRAINING],
        )
        .order_by()
        .values("partner_id")
        .annotate(total=Sum("energy_limit"))
        .values("total")
    )
    pools = (
        EnergyPool.objects.filter(pk__in=pool_ids)
        .annotate(
            partner_queued=Coalesce(Subquery(partner_queue), Value(0)),
            partner_limit=Coalesce(Subquery(partner_limits), Value(0)),
        )
        .only("id", "partner_id", "energy_limit", "energy_used", "reserved_energy")
    )
    if series is None:
        series = current_upper_series(pool_ids=pool_ids, now=now, hours=hours)
    result: dict[int, DepletionEstimate] = {}
    for pool in pools:
        share = pool.energy_limit / pool.partner_limit if pool.partner_limit else 0.0
        queued = int(int(pool.partner_queued) * min(1.0, share))
        committed = pool.reserved_energy + queued
        available = pool.energy_limit - pool.energy_used - committed
        upper = series.get(pool.pk)
        hours_left = None
        until = None
        shortfall = 0.0
        if upper is not None:
            hours_left, shortfall = depletion_hours(
                available=available, limit=pool.energy_limit, committed=committed, upper=upper
            )
            until = now + timedelta(hours=len(upper))
        elif available <= 0:
            hours_left = 0.0
        result[pool.pk] = DepletionEstimate(
            pool_id=pool.pk,
            available=available,
            queued_energy=queued,
            regeneration_per_hour=pool.energy_limit // 24,
            hours_left=hours_left,
            depletes_at=now + timedelta(hours=hours_left) if hours_left is not None else None,
            forecast_until=until,
            shortfall=math.ceil(shortfall),
        )
    return result


# ---------------------------------------------------------------------------------------------
# Patterns


@dataclass(frozen=True)
class Anomaly:
    at: datetime
    energy: float
    expected: float
    sigmas: float  # how far outside the pattern, in the slot's standard deviations


@dataclass(frozen=True)
class Pattern:
    pool_id: int | None  # None: the partner's pools together
    time_zone: str
    weeks: int
    # profile[weekday][hour]: mean energy per hour, weekday 0 = Monday, in the partner's zone.
    profile: list[list[float]]
    peak_hours: list[int]
    last_week_energy: float
    previous_week_energy: float
    trend_percent: float | None
    anomalies: list[Anomaly]


def partner_zone(partner: Partner) -> ZoneInfo:
    try:
        return ZoneInfo(partner.time_zone or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def usage_patterns(
    *, partner: Partner, pool_ids: Sequence[int], now: datetime | None = None
) -> list[Pattern]:
    """Per pool and for all of them together (first): the hour-of-day × day-of-week profile
    over the last PATTERN_WEEKS full weeks in the partner's zone, the three peak hours of the
    day, the last week's use against the one before (trend), and the hours of the last week
    more than ANOMALY_SIGMAS standard deviations from their slot's mean over the weeks before
    (one query)."""
    now = hour_floor(now or timezone.now())
    zone = partner_zone(partner)
    since = now - timedelta(weeks=PATTERN_WEEKS)
    usage = hourly_usage(pool_ids=pool_ids, since=since, until=now)
    combined: dict[datetime, float] = defaultdict(float)
    for series in usage.values():
        for hour, energy in series.items():
            combined[hour] += energy
    patterns = [_pattern(None, combined, zone, since, now)]
    for pool_id in pool_ids:
        patterns.append(_pattern(pool_id, usage.get(pool_id, {}), zone, since, now))
    return patterns


def _pattern(
    pool_id: int | None,
    series: dict[datetime, float],
    zone: ZoneInfo,
    since: datetime,
    now: datetime,
) -> Pattern:
    hours = int((now - since) / timedelta(hours=1))
    slots: dict[tuple[int, int], list[tuple[datetime, float]]] = defaultdict(list)
    for i in range(hours):
        at = since + timedelta(hours=i)
        local = at.astimezone(zone)
        slots[(local.weekday(), local.hour)].append((at, series.get(at, 0.0)))
    profile = [[0.0] * 24 for _ in range(7)]
    for (day, hour), values in slots.items():
        profile[day][hour] = statistics.fmean(v for _, v in values)
    by_hour = [statistics.fmean(profile[d][h] for d in range(7)) for h in range(24)]
    peak_hours = sorted(range(24), key=lambda h: (-by_hour[h], h))[:3] if any(by_hour) else []
    week_start = now - timedelta(weeks=1)
    last = sum(v for at, v in series.items() if at >= week_start)
    previous = sum(
        v for at, v in series.items() if week_start - timedelta(weeks=1) <= at < week_start
    )
    trend = round((last - previous) * 100 / previous, 2) if previous > 0 else None
    anomalies = []
    for values in slots.values():
        before = [v for at, v in values if at < week_start]
        if len(before) < 2:
            continue
        mean = statistics.fmean(before)
        spread = max(statistics.pstdev(before), math.sqrt(max(mean, 1.0)))
        for at, v in values:
            if at >= week_start and abs(v - mean) > ANOMALY_SIGMAS * spread:
                anomalies.append(Anomaly(at, v, mean, round((v - mean) / spread, 2)))
    anomalies.sort(key=lambda a: a.at)
    return Pattern(
        pool_id=pool_id,
        time_zone=zone.key,
        weeks=PATTERN_WEEKS,
        profile=[[round(v, 1) for v in row] for row in profile],
        peak_hours=peak_hours,
        last_week_energy=last,
        previous_week_energy=previous,
        trend_percent=trend,
        anomalies=anomalies,
    )


# ---------------------------------------------------------------------------------------------
# Recommendations


@dataclass(frozen=True)
class Prices:
    energy_fee_sun: Decimal | None
    rental_sun_per_energy_day: Decimal | None
    rental_source: str | None
    rental_duration_days: int | None
    rental_quoted_at: datetime | None


def latest_price_inputs(*, days: int) -> Prices:
    """The newest chain energy fee and the newest rental quote for `days` (or, lacking one,
    the newest of the shortest duration covering `days`, else the newest of any) (two queries)."""
    fee = (
        PriceQuote.objects.filter(kind=PriceQuote.Kind.ENERGY_FEE)
        .order_by("-quoted_at")
        .values_list("price_sun", flat=True)
        .first()
    )
    rentals = list(
        PriceQuote.objects.filter(kind=PriceQuote.Kind.RENTAL).order_by("-quoted_at")[:50]
    )
    rental = next((q for q in rentals if q.duration_days == days), None)
    if rental is None:
        longer = sorted(
            (q for q in rentals if (q.duration_days or 0) >= days),
            key=lambda q: (q.duration_days, -q.quoted_at.timestamp()),
        )
        rental = longer[0] if longer else (rentals[0] if rentals else None)
    return Prices(
        energy_fee_sun=fee,
        rental_sun_per_energy_day=rental.price_sun if rental else None,
        rental_source=rental.source if rental else None,
        rental_duration_days=rental.duration_days if rental else None,
        rental_quoted_at=rental.quoted_at if rental else None,
    )


@dataclass(frozen=True)
class Recommendation:
    kind: str  # stake | rent | move_delegation
    pool_id: int
    from_pool_id: int | None
    shortfall_energy: int  # what the pool lacks over the window at the pessimistic forecast
    covers_energy: int  # how much of it this action covers
    trx_amount_sun: int  # TRX to stake or to move (stake, move_delegation); 0 for rent
    cost_sun: int  # TRX spent (rent) or locked (stake: recoverable on unstake); 0 for a move
    burn_cost_sun: int  # what burning TRX for the covered energy would cost instead
    energy_per_day: int
    days: int
    detail: str


def recommendations(
    *,
    estimates: dict[int, DepletionEstimate],
    energy_per_trx: Decimal | None,
    prices: Prices,
    days: int,
    surplus: dict[int, int],
) -> list[Recommendation]:
    """Priced actions for each pool short of energy over the window (`days`).

    - stake: N TRX more so the pool's limit (regenerating daily) gains shortfall/days per day;
      N = ceil(energy per day / energy_per_trx) (the network's live ratio). The TRX is locked,
      not spent: cost_sun is the stake itself.
    - rent: shortfall/days energy per day for `days` at the newest rental quote
      (sun per energy per day): cost = energy per day × days × price.
    - move_delegation: from another pool of the partner with surplus (`surplus`: energy it
      can spare over the window), as much as covers the shortfall; TRX moved = energy per day
      / energy_per_trx; costs nothing but that pool's headroom.
    Each carries burn_cost_sun: the covered energy burned at the chain's energy fee instead.
    """
    result: list[Recommendation] = []
    fee = prices.energy_fee_sun
    for pool_id, estimate in sorted(estimates.items()):
        shortfall = estimate.shortfall
        if shortfall <= 0:
            continue
        per_day = math.ceil(shortfall / days)

        def burn(energy: int) -> int:
            return int(energy * fee) if fee is not None else 0

        if energy_per_trx is not None and energy_per_trx > 0:
            trx = math.ceil(Decimal(per_day) / energy_per_trx)
            result.append(
                Recommendation(
                    kind="stake",
                    pool_id=pool_id,
                    from_pool_id=None,
                    shortfall_energy=shortfall,
                    covers_energy=shortfall,
                    trx_amount_sun=trx * SUN,
                    cost_sun=trx * SUN,
                    burn_cost_sun=burn(shortfall),
                    energy_per_day=per_day,
                    days=days,
                    detail=f"Stake {trx} TRX more for energy at {energy_per_trx:.4f} energy/TRX.",
                )
            )
        if prices.rental_sun_per_energy_day is not None:
            cost = int(per_day * days * prices.rental_sun_per_energy_day)
            result.append(
                Recommendation(
                    kind="rent",
                    pool_id=pool_id,
                    from_pool_id=None,
                    shortfall_energy=shortfall,
                    covers_energy=shortfall,
                    trx_amount_sun=0,
                    cost_sun=cost,
                    burn_cost_sun=burn(shortfall),
                    energy_per_day=per_day,
                    days=days,
                    detail=(
                        f"Rent {per_day} energy for {days} days from {prices.rental_source} at "
                        f"{prices.rental_sun_per_energy_day} sun/energy/day."
                    ),
                )
            )
        donors = sorted(
            ((pid, spare) for pid, spare in surplus.items() if pid != pool_id and spare > 0),
            key=lambda item: (-item[1], item[0]),
        )
        if donors and energy_per_trx is not None and energy_per_trx > 0:
            donor, spare = donors[0]
            covers = min(shortfall, spare)
            move_per_day = math.ceil(covers / days)
            trx = math.ceil(Decimal(move_per_day) / energy_per_trx)
            result.append(
                Recommendation(
                    kind="move_delegation",
                    pool_id=pool_id,
                    from_pool_id=donor,
                    shortfall_energy=shortfall,
                    covers_energy=covers,
                    trx_amount_sun=trx * SUN,
                    cost_sun=0,
                    burn_cost_sun=burn(covers),
                    energy_per_day=move_per_day,
                    days=days,
                    detail=f"Delegate {trx} TRX of stake from pool {donor} to pool {pool_id}.",
                )
            )
    return result


def pool_surplus(
    *,
    estimates: dict[int, DepletionEstimate],
    pool_ids: Sequence[int],
    hours: int = WEEK,
    now: datetime | None = None,
    series: dict[int, list[float]] | None = None,
) -> dict[int, int]:
    """Energy each pool can spare over the next `hours`: what it has now and regains
    (limit/24 an hour) minus its pessimistic usage, for pools with a current forecast and no
    shortfall of their own (one query; none when the caller passes the same `hours` of
    `current_upper_series` it already read)."""
    now = now or timezone.now()
    if series is None:
        series = current_upper_series(pool_ids=pool_ids, now=now, hours=hours)
    spare: dict[int, int] = {}
    for pool_id, estimate in estimates.items():
        upper = series.get(pool_id)
        if upper is None or estimate.forecast_until is None or estimate.shortfall > 0:
            continue
        spare[pool_id] = max(
            0,
            int(max(estimate.available, 0) + estimate.regeneration_per_hour * len(upper))
            - math.ceil(sum(upper)),
        )
    return spare


def network_energy_per_trx(*, pools: Sequence[EnergyPool]) -> Decimal | None:
    """The network's live ratio, energy per staked TRX per day: TotalEnergyLimit /
    TotalEnergyWeight, read from the chain now through one of `pools`' accounts (pools/chain/).
    None without a pool or when the chain reports no weight. A node outage raises ChainError
    (the API answers 503)."""
    if not pools:
        return None
    state = chain_client().account_state(pools[0].address)
    if state.total_energy_weight <= 0:
        return None
    return Decimal(state.total_energy_limit) / Decimal(state.total_energy_weight)
