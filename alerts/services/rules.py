"""The `check_alerts` job: every rule, evaluated over every pool in a constant number of
queries, then the lifecycle (alerts/services/lifecycle.py) applied to what changed.

Rules and their defaults (README "Alerts"):

- usage: `(used + reserved) / limit` against the pool's thresholds, else its partner's
  (90 / 95 / 98 %); an alert lowers or resolves only once the ratio is `ALERT_HYSTERESIS_POINTS`
  (3) below the threshold that raised it, so a ratio hovering at a threshold does not flap;
- depletion: the energy left (less the queue's) runs out within the partner's
  `depletion_alert_hours` (6) at the forecast's pessimistic side (predictions) when a current
  forecast exists, else at the recent rate less regeneration (critical within a quarter);
- stale sync: not synced for `ALERT_STALE_SYNC_INTERVALS` (3) sync intervals (critical at 10);
- external drain: energy used outside the platform within the last hour;
- queue backlog: the oldest queued withdrawal older than the partner's `queue_backlog_minutes`
  (15) or more than `queue_backlog_max` (100) queued (critical at twice either, or when the
  queue's head can never be served);
- low TRX: an emergency wallet holds less TRX than its paid, unsent emergency withdrawals
  will burn;
- rental failed: the pool's newest rental order (automatic top-up, pools/services/rentals.py)
  failed within the last `RENTAL_FAILED_ALERT_HOURS` (24); a later order, or that much time,
  resolves it;
- rental stuck (critical): a rental order paid to its market and not over, which the top-up
  cannot end by itself: its recorded market cannot be asked about it
  (`pools.pricing.provider_for_order` fails: at once), or it has been paid and not placed for
  `ALERT_RENTAL_STUCK_MINUTES` (30), or placed and neither delivered nor failed for that long
  past `TOPUP_DELIVERY_TIMEOUT_SECONDS`; on the order's pool (a pool has at most one open
  order); the order moving on resolves it;
- node: the TRON node unreachable (critical) or its head block stale (warning): platform-wide.

Ledger invariants and failed withdrawals (including a signing key gone) are raised where they
are found (withdrawals/services/audit.py, withdrawals/services/sending.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import (
    BooleanField,
    DurationField,
    ExpressionWrapper,
    FloatField,
    Func,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from alerts.models import LEVEL_RANK, EnergyAlert, Level
from alerts.services.delivery import deliveries_requeue_stuck
from alerts.services.depletion import (
    energy_rates_per_hour,
    external_energy_since,
    hours_until_depleted,
)
from alerts.services.lifecycle import alert_raise, alert_resolve, alerts_renotify
from alerts.services.sources import QueueFacts, emergency_burns, queues
from operations.jobs import JOBS_BY_NAME
from partners.models import Partner
from pools.models import EnergyPool, RentalOrder
from pools.pricing import RentalOrderingUnsupported, RentalProviderError, provider_for_order
from predictions.selectors import DepletionEstimate, pool_depletion_estimates

Kind = EnergyAlert.Kind
POOL_RULE_KINDS = (
    Kind.USAGE,
    Kind.DEPLETION_FORECAST,
    Kind.STALE_SYNC,
    Kind.EXTERNAL_DRAIN,
    Kind.LOW_TRX,
    Kind.RENTAL_FAILED,
    Kind.RENTAL_STUCK,
)
RENTAL_FAILED_ALERT_HOURS = 24
# Paid to the market and not over: the states the top-up cannot leave without the market.
RENTAL_STUCK_STATES = (RentalOrder.State.PAID, RentalOrder.State.ORDERED)
PARTNER_RULE_KINDS = (Kind.QUEUE_BACKLOG,)
LIVE_STATUSES = (EnergyPool.Status.ACTIVE, EnergyPool.Status.DRAINING)
SYNCED_STATUSES = (
    EnergyPool.Status.ACTIVE,
    EnergyPool.Status.DRAINING,
    EnergyPool.Status.PAUSED,
    EnergyPool.Status.ERROR,
)
FOUR_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class Verdict:
    """What a rule says about one (scope, kind): a level, or None when all is well."""

    partner_id: int | None
    pool_id: int | None
    kind: EnergyAlert.Kind
    level: Level | None
    message: str = ""
    value: Decimal | None = None
    threshold: Decimal | None = None


def _dec(value: float | int | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(FOUR_PLACES)


@dataclass(frozen=True)
class Limits:
    """The settings the rules read, read once per run (settings lookups are not free)."""

    margin: Decimal
    sync_interval: int
    stale_intervals: int
    drain_minutes: int

    @classmethod
    def now(cls) -> Limits:
        return cls(
            margin=Decimal(str(settings.ALERT_HYSTERESIS_POINTS)),
            sync_interval=JOBS_BY_NAME["sync_pools"].every_seconds,
            stale_intervals=settings.ALERT_STALE_SYNC_INTERVALS,
            drain_minutes=settings.ALERT_EXTERNAL_DRAIN_WINDOW_MINUTES,
        )


def usage_level(
    value: Decimal,
    thresholds: tuple[Decimal, Decimal, Decimal],
    current: Level | None,
    margin: Decimal | None = None,
) -> Level | None:
    """The level a usage ratio stands at, with hysteresis: a level already reached holds
    until the ratio is `ALERT_HYSTERESIS_POINTS` below its threshold."""
    if margin is None:
        margin = Decimal(str(settings.ALERT_HYSTERESIS_POINTS))
    held = LEVEL_RANK[current] if current else 0
    found: Level | None = None
    for level, threshold in zip(
        (Level.WARNING, Level.CRITICAL, Level.EMERGENCY), thresholds, strict=True
    ):
        if value >= threshold or (LEVEL_RANK[level] <= held and value >= threshold - margin):
            found = level
    return found


def _usage(row: dict[str, Any], current: Level | None, limits: Limits) -> Verdict | None:
    limit, used, reserved = row["energy_limit"], row["energy_used"], row["reserved_energy"]
    warning = row["warning_threshold"] or row["partner__warning_threshold"]
    # Most pools are far below any threshold: decided without decimals.
    if current is None and limit > 0 and (used + reserved) * 100 < limit * float(warning):
        return None
    if limit > 0:
        ratio = (Decimal(used + reserved) * 100 / limit).quantize(Decimal("0.01"))
    else:
        ratio = Decimal(100) if used or reserved else Decimal(0)
    thresholds = (
        warning,
        row["critical_threshold"] or row["partner__critical_threshold"],
        row["emergency_threshold"] or row["partner__emergency_threshold"],
    )
    level = usage_level(ratio, thresholds, current, limits.margin)
    if level is None and current is None:
        return None
    threshold = thresholds[LEVEL_RANK[level] - 1] if level else None
    return Verdict(
        row["partner_id"],
        row["id"],
        Kind.USAGE,
        level,
        f"Pool {row['address']} uses {ratio}% of its energy "
        f"({used + reserved} of {limit}, {reserved} reserved); {level} threshold {threshold}%.",
        ratio,
        threshold,
    )


def _depletion(
    row: dict[str, Any], rate: float, forecast: DepletionEstimate | None, is_open: bool
) -> Verdict | None:
    """Runs out within the partner's horizon: at the forecast's pessimistic (upper) side
    when a current forecast exists (predictions/selectors.py), else at the recent rate."""
    limit = row["energy_limit"]
    available = max(0, limit - row["energy_used"] - row["reserved_energy"])
    queued = row["queued_energy"]
    horizon = row["partner__depletion_alert_hours"]
    if forecast is not None and forecast.forecast_until is not None:
        hours = forecast.hours_left
        basis = "the forecast's pessimistic rate"
    else:
        hours = hours_until_depleted(
            available=available, queued=queued, rate_per_hour=rate, regeneration_per_hour=limit / 24
        )
        basis = f"{rate:.0f} energy/h"
    level: Level | None = None
    if hours is not None and hours < horizon:
        level = Level.CRITICAL if hours < horizon / 4 else Level.WARNING
    if level is None and not is_open:
        return None
    return Verdict(
        row["partner_id"],
        row["id"],
        Kind.DEPLETION_FORECAST,
        level,
        f"Pool {row['address']} runs out of energy in {hours or 0:.1f} h at {basis} "
        f"(regenerating {limit // 24}/h; {available} available, {queued} queued).",
        _dec(hours if hours is not None else 0),
        _dec(horizon),
    )


def _stale(row: dict[str, Any], is_open: bool, limits: Limits) -> Verdict | None:
    interval = limits.sync_interval
    age = max(0.0, row["sync_age"])
    level: Level | None = None
    if age > interval * limits.stale_intervals:
        level = Level.CRITICAL if age > interval * 10 else Level.WARNING
    if level is None and not is_open:
        return None
    return Verdict(
        row["partner_id"],
        row["id"],
        Kind.STALE_SYNC,
        level,
        f"Pool {row['address']} {'was never synced' if row['never_synced'] else 'was last synced'} "
        f"{age:.0f} s ago (sync runs every {interval} s)"
        + (f": {row['last_sync_error']}" if row["last_sync_error"] else "."),
        _dec(round(age)),
        _dec(interval * limits.stale_intervals),
    )


def _external(row: dict[str, Any], energy: int, is_open: bool, limits: Limits) -> Verdict | None:
    if not energy and not is_open:
        return None
    return Verdict(
        row["partner_id"],
        row["id"],
        Kind.EXTERNAL_DRAIN,
        Level.WARNING if energy > 0 else None,
        f"Pool {row['address']} spent {energy} energy outside the platform in the last "
        f"{limits.drain_minutes} min.",
        _dec(energy),
        _dec(0),
    )


def failed_rentals(*, now: datetime) -> dict[int, dict[str, Any]]:
    """Pools whose newest rental order failed within RENTAL_FAILED_ALERT_HOURS (one query)."""
    newest = (
        RentalOrder.objects.filter(pool_id=OuterRef("pool_id"))
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    rows = RentalOrder.objects.filter(
        state=RentalOrder.State.FAILED,
        ended_at__gte=now - timedelta(hours=RENTAL_FAILED_ALERT_HOURS),
        pk=Subquery(newest),
    ).values("pk", "pool_id", "energy", "cost_sun", "result")
    return {row["pool_id"]: dict(row) for row in rows}


def _rental(row: dict[str, Any], failed: dict[str, Any] | None, is_open: bool) -> Verdict | None:
    if failed is None and not is_open:
        return None
    if failed is None:
        return Verdict(row["partner_id"], row["id"], Kind.RENTAL_FAILED, None)
    return Verdict(
        row["partner_id"],
        row["id"],
        Kind.RENTAL_FAILED,
        Level.WARNING,
        f"Rental order {failed['pk']} ({failed['energy']} energy for pool {row['address']}) "
        f"failed: {failed['result']}",
        _dec(failed["cost_sun"]),
    )


def _market_gap(name: str) -> str:
    """Why the market an order recorded (`RentalOrder.provider`) cannot be asked about it
    now, or "" if it can: the very lookup the top-up makes (pools/services/rentals.py)."""
    try:
        provider_for_order(name)
    except (RentalOrderingUnsupported, RentalProviderError) as exc:
        return str(exc)
    return ""


def rental_stuck_verdicts(*, now: datetime) -> list[Verdict]:
    """Rental orders paid to their market and stuck there (one query; the market lookup
    once per market name, in code). A verdict only for a stuck order: an open alert whose
    order moved on gets none and is resolved by `alerts_check`.

    The message names what does not change while the order stands (the order, its state
    and since when, the market, the payment, why), so a standing order costs no writes per
    run; the order moving to another state changes it once."""
    bound = timedelta(minutes=settings.ALERT_RENTAL_STUCK_MINUTES)
    placed_bound = bound + timedelta(seconds=settings.TOPUP_DELIVERY_TIMEOUT_SECONDS)
    rows = (
        RentalOrder.objects.filter(state__in=RENTAL_STUCK_STATES)
        .order_by()
        .values(
            "pk",
            "pool_id",
            "pool__partner_id",
            "pool__address",
            "provider",
            "state",
            "energy",
            "cost_sun",
            "pay_to",
            "payment__txid",
            "ordered_at",
            "updated_at",
        )
    )
    gaps: dict[str, str] = {}
    verdicts = []
    for row in rows:
        name = row["provider"]
        if name not in gaps:
            gaps[name] = _market_gap(name)
        gap = gaps[name]
        paid = row["state"] == RentalOrder.State.PAID
        # In its state since: a state move stamps `updated_at` (nothing else writes an order).
        since: datetime = row["updated_at"] if paid else (row["ordered_at"] or row["updated_at"])
        allowed = bound if paid else placed_bound
        if not gap and now - since <= allowed:
            continue
        what = (
            f"Rental order {row['pk']} ({row['energy']} energy for pool "
            f"{row['pool__address']}) was paid {row['cost_sun'] / 1_000_000:.6f} TRX to the "
            f"market {name!r} ({row['pay_to'] or 'no address'}, payment "
            f"{row['payment__txid'] or '-'}) and is {row['state']} since "
            f"{since.isoformat(timespec='seconds')}"
        )
        if gap:
            why = (
                f": its market cannot be asked to place or report it ({gap}). Restore that "
                "provider, or settle with the market by hand."
            )
        elif paid:
            why = (
                f": the market has not taken it within {bound.total_seconds() / 60:.0f} min. "
                "Check the market and the topup_pools job, or settle with the market by hand."
            )
        else:
            why = (
                f": neither delivered nor failed within {placed_bound.total_seconds() / 60:.0f} "
                "min of being placed. Check the market and the topup_pools job, or settle with "
                "the market by hand."
            )
        verdicts.append(
            Verdict(
                row["pool__partner_id"],
                row["pool_id"],
                Kind.RENTAL_STUCK,
                Level.CRITICAL,
                what + why,
                _dec(row["cost_sun"]),
                None if gap else _dec(allowed.total_seconds() / 60),
            )
        )
    return verdicts


def _backlog(
    partner: dict[str, Any], queue: QueueFacts | None, now: datetime, is_open: bool
) -> Verdict | None:
    """The partner's one queue (served by all its pools): too old, too long, or holding
    withdrawals none of its pools could ever cover."""
    if queue is None and not is_open:
        return None
    minutes, most = partner["queue_backlog_minutes"], partner["queue_backlog_max"]
    level: Level | None = None
    message = "Queue empty."
    value = Decimal(0)
    if queue:
        age = (now - queue.oldest).total_seconds() / 60
        if queue.unservable or age > 2 * minutes or queue.count > 2 * most:
            level = Level.CRITICAL
        elif age > minutes or queue.count > most:
            level = Level.WARNING
        value = _dec(round(age))
        message = (
            f"{queue.count} withdrawals queued, the oldest for {age:.0f} min "
            f"(limits {minutes} min, {most} queued)."
        )
        if queue.unservable:
            reason = (
                "the partner has no pool that can send (active, custodial, key held)"
                if queue.largest_limit is None
                else f"its largest sending pool's limit is {queue.largest_limit}"
            )
            message += (
                f" {queue.unservable} can never be served as things stand: the oldest needs "
                f"{queue.unservable_energy} energy and {reason}. Stake, resume or add a pool, "
                "or cancel them."
            )
    if level is None and not is_open:
        return None
    return Verdict(partner["id"], None, Kind.QUEUE_BACKLOG, level, message, value, _dec(minutes))


def backlog_verdicts(
    *, now: datetime, current: dict[tuple[int | None, str], Level]
) -> list[Verdict]:
    """The backlog rule over every partner with a queue or an open backlog alert (the
    queue's facts from withdrawals through alerts/services/sources.py; two queries more)."""
    facts = queues()
    partner_ids = set(facts) | {
        pid for pid, kind in current if kind == Kind.QUEUE_BACKLOG and pid is not None
    }
    partners = Partner.objects.filter(pk__in=partner_ids).values(
        "id", "queue_backlog_minutes", "queue_backlog_max"
    )
    verdicts = [
        _backlog(dict(p), facts.get(p["id"]), now, (p["id"], Kind.QUEUE_BACKLOG) in current)
        for p in partners
    ]
    return [v for v in verdicts if v is not None]


def _low_trx(row: dict[str, Any], burn_sun: int, is_open: bool) -> Verdict | None:
    balance = row["trx_balance_sun"]
    short = balance < burn_sun
    if not short and not is_open:
        return None
    return Verdict(
        row["partner_id"],
        row["id"],
        Kind.LOW_TRX,
        Level.CRITICAL if short else None,
        f"Emergency wallet {row['address']} holds {balance / 1e6:.6f} TRX; its unsent "
        f"emergency withdrawals will burn {burn_sun / 1e6:.6f} TRX.",
        _dec(Decimal(balance) / 1_000_000),
        _dec(Decimal(burn_sun) / 1_000_000),
    )


POOL_FIELDS = (
    "id",
    "partner_id",
    "address",
    "role",
    "status",
    "energy_limit",
    "energy_used",
    "reserved_energy",
    "trx_balance_sun",
    "last_sync_error",
    "warning_threshold",
    "critical_threshold",
    "emergency_threshold",
    "partner__warning_threshold",
    "partner__critical_threshold",
    "partner__emergency_threshold",
    "partner__depletion_alert_hours",
    "partner__queue_backlog_minutes",
    "partner__queue_backlog_max",
)


class EpochSeconds(Func):
    """Seconds in an interval, computed by the database (no timestamps parsed per row)."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # SQLite keeps a duration as microseconds (`make run`'s embedded database).
        return super().as_sql(compiler, connection, template="(%(expressions)s / 1e6)", **extra)


def pool_verdicts(*, now: datetime, current: dict[tuple[int | None, str], Level]) -> list[Verdict]:
    """Every pool rule over every pool that is not archived (seven queries whatever the
    number of pools). `current` holds the open alerts' levels by (pool, kind): a rule that
    finds nothing wrong where nothing is open yields no verdict."""
    limits = Limits.now()
    rates = energy_rates_per_hour(pool_ids=None, now=now)
    external = external_energy_since(since=now - timedelta(minutes=limits.drain_minutes), now=now)
    burns = emergency_burns()
    rentals = failed_rentals(now=now)
    verdicts: list[Verdict | None] = []
    rows = (
        EnergyPool.objects.exclude(status=EnergyPool.Status.ARCHIVED)
        .annotate(
            sync_age=EpochSeconds(
                ExpressionWrapper(
                    Value(now) - Coalesce("last_synced_at", "created_at"),
                    output_field=DurationField(),
                )
            ),
            never_synced=ExpressionWrapper(
                Q(last_synced_at__isnull=True), output_field=BooleanField()
            ),
        )
        .order_by()
        .values(*POOL_FIELDS, "sync_age", "never_synced")
    )
    rows = list(rows)
    # Depletion by forecast where one is current, and every live pool's share of its
    # partner's queue either way (predictions/selectors.py).
    forecasts = pool_depletion_estimates(
        pool_ids=[
            r["id"]
            for r in rows
            if r["role"] != EnergyPool.Role.EMERGENCY and r["status"] in LIVE_STATUSES
        ],
        now=now,
    )
    for row in rows:
        pk = row["id"]
        if row["status"] in SYNCED_STATUSES:
            verdicts.append(_stale(row, (pk, Kind.STALE_SYNC) in current, limits))
            verdicts.append(
                _external(row, external.get(pk, 0), (pk, Kind.EXTERNAL_DRAIN) in current, limits)
            )
        verdicts.append(_rental(row, rentals.get(pk), (pk, Kind.RENTAL_FAILED) in current))
        if row["role"] == EnergyPool.Role.EMERGENCY:
            verdicts.append(_low_trx(row, burns.get(pk, 0), (pk, Kind.LOW_TRX) in current))
        elif row["status"] in LIVE_STATUSES:
            verdicts.append(_usage(row, current.get((pk, Kind.USAGE)), limits))
            # Its share of the partner's one queue, as predictions counts it (pro rata by limit).
            estimate = forecasts.get(pk)
            row["queued_energy"] = estimate.queued_energy if estimate is not None else 0
            if row["energy_limit"] > 0 or (pk, Kind.DEPLETION_FORECAST) in current:
                verdicts.append(
                    _depletion(
                        row,
                        rates.get(pk, 0.0),
                        forecasts.get(pk),
                        (pk, Kind.DEPLETION_FORECAST) in current,
                    )
                )
    return [v for v in verdicts if v is not None]


def node_verdict(*, now: datetime) -> Verdict:
    """The TRON node: unreachable (critical) or its head block stale (warning). One quick
    try per node, as the health probe does (pools/chain/health.py)."""
    from pools.chain.client import ChainClient
    from pools.chain.errors import ChainError

    client = ChainClient(settings.TRON_NODE_URLS, timeout=2.0, attempts_per_node=1)
    stale = settings.TRON_HEAD_STALE_SECONDS
    try:
        head = client.head_block()
    except ChainError as exc:
        return Verdict(
            None,
            None,
            Kind.NODE_UNREACHABLE,
            Level.CRITICAL,
            f"No TRON node answers: {type(exc).__name__}.",
        )
    age = max(0.0, time.time() - head.timestamp_ms / 1000)
    return Verdict(
        None,
        None,
        Kind.NODE_UNREACHABLE,
        Level.WARNING if age > stale else None,
        f"The TRON node's head block {head.number} is {age:.0f} s old (stale after {stale} s).",
        _dec(age),
        _dec(stale),
    )


def _apply(verdict: Verdict, open_alert: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
    """(transitions made, a value update to write in bulk or {})."""
    if verdict.level is None:
        if open_alert is None:
            return 0, {}
        return int(alert_resolve(alert_id=open_alert["pk"])), {}
    if open_alert is None or open_alert["level"] != verdict.level:
        alert_raise(
            partner_id=verdict.partner_id,
            pool_id=verdict.pool_id,
            kind=verdict.kind,
            level=verdict.level,
            message=verdict.message,
            value=verdict.value,
            threshold=verdict.threshold,
            lower=True,
        )
        return 1, {}
    if open_alert["value"] != verdict.value or open_alert["message"] != verdict.message:
        return 0, {"pk": open_alert["pk"], "value": verdict.value, "message": verdict.message}
    return 0, {}


def alerts_check(*, now: datetime | None = None, check_node: bool = True) -> int:
    """The `check_alerts` job: evaluate every rule, apply each verdict to its open alert
    (open, escalate, de-escalate, resolve: transitions are delivered), write changed values
    of unchanged alerts in bulk, re-notify unacknowledged grave alerts and re-enqueue lost
    deliveries. Safe to run concurrently with itself (the lifecycle locks each alert).
    Queries: a constant number, plus a few per transition. Returns transitions made."""
    now = now or timezone.now()
    open_alerts: dict[tuple[int | None, str], dict[str, Any]] = {
        (row["pool_id"], row["kind"]): dict(row)
        for row in EnergyAlert.objects.filter(
            resolved_at__isnull=True, kind__in=POOL_RULE_KINDS, pool__isnull=False
        )
        .order_by()
        .values("pk", "pool_id", "kind", "level", "value", "message")
    }
    levels = {key: Level(row["level"]) for key, row in open_alerts.items()}
    open_partner_alerts: dict[tuple[int | None, str], dict[str, Any]] = {
        (row["partner_id"], row["kind"]): dict(row)
        for row in EnergyAlert.objects.filter(
            resolved_at__isnull=True,
            kind__in=PARTNER_RULE_KINDS,
            pool__isnull=True,
            partner__isnull=False,
        )
        .order_by()
        .values("pk", "partner_id", "kind", "level", "value", "message")
    }
    partner_levels = {key: Level(row["level"]) for key, row in open_partner_alerts.items()}
    transitions = 0
    updates: list[dict[str, Any]] = []
    pool_scope = pool_verdicts(now=now, current=levels) + rental_stuck_verdicts(now=now)
    for verdicts, open_by_scope, scope in (
        (pool_scope, open_alerts, "pool_id"),
        (backlog_verdicts(now=now, current=partner_levels), open_partner_alerts, "partner_id"),
    ):
        for verdict in verdicts:
            key = (getattr(verdict, scope), verdict.kind)
            made, update = _apply(verdict, open_by_scope.pop(key, None))
            transitions += made
            if update:
                updates.append(update)
        # No rule looks at these any more (an archived pool…), or their condition is over
        # (a stuck rental order that moved on).
        for row in open_by_scope.values():
            transitions += alert_resolve(alert_id=row["pk"])
    if check_node:
        node = EnergyAlert.objects.filter(
            resolved_at__isnull=True, partner__isnull=True, kind=Kind.NODE_UNREACHABLE
        ).values("pk", "pool_id", "kind", "level", "value", "message")
        current = node.first()
        made, update = _apply(node_verdict(now=now), dict(current) if current else None)
        transitions += made
        if update:
            updates.append(update)
    if updates:
        EnergyAlert.objects.bulk_update(
            [EnergyAlert(pk=u["pk"], value=u["value"], message=u["message"]) for u in updates],
            ["value", "message"],
            batch_size=1000,
        )
    transitions += alerts_renotify(now=now)
    deliveries_requeue_stuck(now=now)
    return transitions
