"""Reads behind the operators' console, the partner dashboard and the analytics endpoints.

Everything here costs a fixed number of queries whatever the number of pools or days
(pinned by dashboard/tests/test_apis.py); sums, buckets and the fee in force at each usage
are computed by PostgreSQL, and Python only fills the days and hours nothing happened in.
A `partner_id` of None means every partner (the operators' view); partner scope itself is
decided by the caller (`partners/selectors.py` `Caller` or verified staff), never here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DecimalField,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import (
    Coalesce,
    ExtractHour,
    ExtractIsoWeekDay,
    TruncDay,
    TruncHour,
)
from django.utils import timezone

from alerts.models import AlertChannel, EnergyAlert
from common.db import CompiledRows, compiled_rows
from operations.models import JobRun
from operations.selectors import job_stats
from pools.models import EnergyPool, EnergyUsageLog, PoolSnapshot, usage_percent
from pools.selectors import (
    PoolEnergy,
    energy_totals_rows,
    latest_prices,
    latest_prices_cached,
    partner_energy_overview,
    pool_energy,
    pool_energy_rows_and_savings,
    trx_saved_sun,
    usage_log_fee,
    with_recent_usage,
)
from predictions.models import EnergyPrediction
from withdrawals.models import QueueEntry, Withdrawal

SAVINGS_WINDOW = timedelta(days=30)
RECENT_ROWS = 10
MAX_DAYS = 365
PEAK_HOURS = 3
OPEN_ALERTS = 50  # a page shows the most recent ones


@dataclass(frozen=True)
class PoolCard:
    """One pool as a card shows it: its energy picture, its thresholds and its queue."""

    energy: PoolEnergy
    warning: Decimal
    critical: Decimal
    emergency: Decimal
    queue_length: int
    oldest_enqueued_at: datetime | None
    now: datetime

    @property
    def pool(self) -> EnergyPool:
        return self.energy.pool

    @property
    def level(self) -> str:
        """ok, warning, critical or emergency: the highest threshold the usage has reached."""
        return card_level(self.pool.usage_percent, self.warning, self.critical, self.emergency)

    @property
    def oldest_wait_seconds(self) -> int | None:
        return wait_seconds(self.oldest_enqueued_at, self.now)


def card_level(usage: Decimal, warning: Decimal, critical: Decimal, emergency: Decimal) -> str:
    """ok, warning, critical or emergency: the highest threshold `usage` has reached."""
    for name, threshold in (("emergency", emergency), ("critical", critical), ("warning", warning)):
        if usage >= threshold:
            return name
    return "ok"


def wait_seconds(since: datetime | None, now: datetime) -> int | None:
    """Whole seconds waited since `since` (None for no wait)."""
    if since is None:
        return None
    return max(0, int((now - since).total_seconds()))


def _pools(
    *, partner_id: int | None, status: str | None = None, now: datetime
) -> QuerySet[EnergyPool]:
    return with_recent_usage(_pool_scope(partner_id=partner_id, status=status), now=now)


def _pool_scope(*, partner_id: int | None, status: str | None = None) -> QuerySet[EnergyPool]:
    """The pools a dashboard shows: archived left out, by partner then id."""
    pools = EnergyPool.objects.select_related("partner").exclude(status=EnergyPool.Status.ARCHIVED)
    if partner_id is not None:
        pools = pools.filter(partner_id=partner_id)
    if status:
        pools = pools.filter(status=status)
    return pools.order_by("partner_id", "id")


def _partner_pool_scope(partner_id: int) -> QuerySet[EnergyPool]:
    return _pool_scope(partner_id=partner_id)


THRESHOLDS = ("warning_threshold", "critical_threshold", "emergency_threshold")
# A card's columns beyond `POOL_ENERGY_FIELDS`: its partner's name, its own thresholds and
# its partner's.
CARD_FIELDS = ("partner__name", *THRESHOLDS, *(f"partner__{name}" for name in THRESHOLDS))


def _card_rows(rows: list[dict[str, Any]], *, now: datetime, queued: int, oldest: Any) -> None:
    """Make `pool_energy_rows_and_savings` rows (with `CARD_FIELDS`) `pool_cards` rows, in
    place: each with `partner_name`, its effective `warning`, `critical` and `emergency`
    thresholds, `level`, and its partner's queue (`queued` entries, the `oldest` enqueued
    then: every pool of a partner serves its one queue)."""
    wait = wait_seconds(oldest, now) if queued else None
    for row in rows:
        partner_name = row.pop("partner__name")
        # EnergyPool.effective_thresholds: the pool's own, else its partner's.
        warning, critical, emergency = (
            row.pop(name) or row.pop(f"partner__{name}") for name in THRESHOLDS
        )
        for name in THRESHOLDS:
            row.pop(f"partner__{name}", None)
        limit, used, reserved = row["energy_limit"], row["energy_used"], row["reserved_energy"]
        row.update(
            partner_name=partner_name,
            warning=warning,
            critical=critical,
            emergency=emergency,
            level=card_level(
                usage_percent(limit=limit, used=used, reserved=reserved),
                warning,
                critical,
                emergency,
            ),
            queue_length=queued,
            oldest_wait_seconds=wait,
        )


def pool_cards(*, pools: list[EnergyPool], now: datetime | None = None) -> list[PoolCard]:
    """Cards for `pools` (their partner loaded; `with_recent_usage` at `now` saves a query):
    one or two queries whatever their number."""
    now = now or timezone.now()
    # A partner's one queue is served by all its pools: each card shows its partner's.
    queue: dict[int, dict[str, Any]] = {
        row["partner_id"]: dict(row)
        for row in QueueEntry.objects.filter(partner_id__in={p.partner_id for p in pools})
        .values("partner_id")
        .annotate(n=Count("id"), oldest=Min("enqueued_at"))
        .order_by()
    }
    cards = []
    for entry in pool_energy(pools=pools, now=now):
        warning, critical, emergency = entry.pool.effective_thresholds()
        row = queue.get(entry.pool.partner_id)
        cards.append(
            PoolCard(
                energy=entry,
                warning=warning,
                critical=critical,
                emergency=emergency,
                queue_length=row["n"] if row else 0,
                oldest_enqueued_at=row["oldest"] if row else None,
                now=now,
            )
        )
    return cards


def open_alerts(*, partner_id: int | None) -> list[EnergyAlert]:
    """Open alerts, newest first (bounded: a page shows the most recent ones)."""
    alerts = _open_alerts(partner_id=partner_id).select_related("partner", "pool")
    return list(alerts[:OPEN_ALERTS])


def _open_alerts(*, partner_id: int | None) -> QuerySet[EnergyAlert]:
    alerts = EnergyAlert.objects.filter(resolved_at__isnull=True)
    if partner_id is not None:
        alerts = alerts.filter(partner_id=partner_id)
    return alerts.order_by("-opened_at", "-id")


def partner_dashboard(*, partner_id: int, now: datetime | None = None) -> dict[str, Any]:
    """What the partner dashboard shows, in one dict of plain rows (no model instances: the
    hot read of bench/reads.py; `dashboard/apis.py` `dashboard_output` writes it out).

    One round trip to the database whatever the pool count (common/db.py
    `fetch_together`): the pools with their week's usage and the partner's savings;
    withdrawals by status with the queue; recent withdrawals; alerts; channels. Plus the
    prices, shared and cached (common/readcache.py), and the savings in a query of their own
    when no pool is shown to carry them.
    """
    now = now or timezone.now()
    since = now - SAVINGS_WINDOW
    by_status_read = compiled_rows(
        "dashboard_by_status", _withdrawals_by_status, partner_id=int, since=datetime
    )
    side: list[tuple[CompiledRows, Mapping[str, Any]]] = [
        (by_status_read, {"partner_id": partner_id, "since": since}),
        *(
            (compiled_rows(name, build, partner_id=int), {"partner_id": partner_id})
            for name, build in SIDE_READS
        ),
    ]
    cards, saved, (by_status_rows, recent, alerts, channels) = pool_energy_rows_and_savings(
        name="dashboard_cards",
        pools=_partner_pool_scope,
        partner_id=partner_id,
        now=now,
        since=since,
        fields=CARD_FIELDS,
        also=side,
    )
    # Every queue entry is a withdrawal's: counting them by the withdrawals' status folds
    # the queue into the same query (no withdrawals, no queue).
    by_status: dict[str, int] = {}
    queued, oldest = 0, None
    for row in by_status_rows:
        by_status[row["status"]] = row["n"]
        queued += row["queued"]
        if row["oldest"] is not None and (oldest is None or row["oldest"] < oldest):
            oldest = row["oldest"]
    _card_rows(cards, now=now, queued=queued, oldest=oldest)
    return {
        "partner_id": partner_id,
        "generated_at": now,
        "totals": energy_totals_rows(cards),
        "savings": {"since": since, "trx_saved_sun": saved},
        "pools": cards,
        # The partner's one queue (each card shows it too: all its pools serve it).
        "queue": {"length": queued, "oldest_wait_seconds": wait_seconds(oldest, now)},
        "withdrawals_by_status": by_status,
        "withdrawals_since": since,
        "recent_withdrawals": recent,
        "alerts": alerts,
        "channels": channels,
        "prices": latest_prices_cached(),
    }


# The partner dashboard's other reads (`SIDE_READS`), each compiled once per process
# (common/db.py `compiled_rows`; compiling them cost more than running them): each depends
# on nothing but the partner's id.


def _withdrawals_by_status(partner_id: int, since: datetime) -> QuerySet[Any]:
    """The partner's withdrawals by status: every one still in progress, and the finished
    ones created since `since` (a busy partner's whole history would be read on every
    dashboard otherwise); each branch has its index (`withdrawal_partner_open`,
    `withdrawal_partner_newest`)."""
    by_status: QuerySet[Any] = (
        Withdrawal.objects.filter(partner_id=partner_id)
        .filter(~Q(status__in=Withdrawal.FINAL_STATUSES) | Q(created_at__gte=since))
        .values("status")
        .annotate(
            n=Count("id"), queued=Count("queue_entry"), oldest=Min("queue_entry__enqueued_at")
        )
        .order_by()
    )
    return by_status


def _recent_withdrawals(partner_id: int) -> QuerySet[Any]:
    recent: QuerySet[Any] = (
        Withdrawal.objects.filter(partner_id=partner_id)
        .order_by("-created_at", "-id")
        .values(*RECENT_WITHDRAWAL_FIELDS)[:RECENT_ROWS]
    )
    return recent


def _alert_rows(partner_id: int) -> QuerySet[Any]:
    alerts: QuerySet[Any] = _open_alerts(partner_id=partner_id).values(*ALERT_FIELDS)
    return alerts[:OPEN_ALERTS]


def _channel_rows(partner_id: int) -> QuerySet[Any]:
    channels: QuerySet[Any] = AlertChannel.objects.filter(partner_id=partner_id).order_by("name")
    return channels.values(*CHANNEL_FIELDS)


SIDE_READS: tuple[tuple[str, Callable[[int], QuerySet[Any]]], ...] = (
    ("dashboard_recent_withdrawals", _recent_withdrawals),
    ("dashboard_alerts", _alert_rows),
    ("dashboard_channels", _channel_rows),
)


# What the dashboard shows of each (dashboard/apis.py's serializers).
RECENT_WITHDRAWAL_FIELDS = ("id", "status", "mode", "amount", "pool_id", "created_at")
ALERT_FIELDS = (
    "id",
    "partner_id",
    "pool_id",
    "kind",
    "level",
    "message",
    "opened_at",
    "acknowledged_at",
)
CHANNEL_FIELDS = ("id", "name", "kind", "min_level", "is_active")


def global_dashboard(
    *, partner_id: int | None = None, status: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The operators' console: every pool (filtered by partner and status), totals across and
    per partner, open alerts, jobs and prices (ten queries whatever the pool count)."""
    now = now or timezone.now()
    cards = pool_cards(pools=list(_pools(partner_id=partner_id, status=status, now=now)), now=now)
    since = now - SAVINGS_WINDOW
    overview = partner_energy_overview()
    return {
        "generated_at": now,
        "totals": overview["totals"],
        "partners": overview["partners"],
        "savings": {"since": since, "trx_saved_sun": trx_saved_sun(since=since)},
        "pools": cards,
        "alerts": open_alerts(partner_id=partner_id),
        "jobs": job_stats(),
        "recent_jobs": list(JobRun.objects.order_by("-started_at", "-id")[:RECENT_ROWS]),
        "prices": latest_prices(),
    }


def _days(days: int, now: datetime) -> list[date]:
    today = now.astimezone(UTC).date()
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def _scope(queryset: QuerySet[Any], partner_id: int | None, path: str) -> QuerySet[Any]:
    return queryset if partner_id is None else queryset.filter(**{path: partner_id})


def analytics(*, partner_id: int | None, days: int, now: datetime | None = None) -> dict[str, Any]:
    """Daily energy used, withdrawals, pooled vs burned, TRX saved, usage by hour × weekday,
    peak hours, each pool's energy over 24 h (hourly) and over `days` (daily), and the newest
    forecast where one exists. Seven queries whatever the number of pools or days."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be within 1..{MAX_DAYS}")
    now = now or timezone.now()
    day_list = _days(days, now)
    start = datetime.combine(day_list[0], datetime.min.time(), tzinfo=UTC)

    logs = _scope(EnergyUsageLog.objects.filter(at__gte=start), partner_id, "pool__partner_id")
    pooled = Q(kind=EnergyUsageLog.Kind.WITHDRAWAL)
    usage_rows = (
        logs.annotate(
            day=TruncDay("at", tzinfo=UTC),
            fee=usage_log_fee(),
        )
        .values("day")
        .annotate(
            total_energy=Sum("energy_used"),
            pooled_total=Coalesce(Sum("energy_used", filter=pooled), 0),
            external_total=Coalesce(
                Sum("energy_used", filter=Q(kind=EnergyUsageLog.Kind.EXTERNAL)), 0
            ),
            burned_sun=Sum("trx_burned_sun"),
            saved_sun=Coalesce(
                Sum(
                    F("energy_used") * F("fee"),
                    filter=pooled,
                    output_field=DecimalField(max_digits=30, decimal_places=6),
                ),
                Value(Decimal(0)),
            ),
        )
        .order_by("day")
    )
    usage = {row["day"].date(): row for row in usage_rows}

    withdrawal_rows = (
        _scope(Withdrawal.objects.filter(created_at__gte=start), partner_id, "partner_id")
        .annotate(day=TruncDay("created_at", tzinfo=UTC))
        .values("day")
        .annotate(
            requested=Count("id"),
            confirmed=Count("id", filter=Q(status=Withdrawal.Status.CONFIRMED)),
            failed=Count("id", filter=Q(status=Withdrawal.Status.FAILED)),
            emergency=Count("id", filter=Q(mode=Withdrawal.Mode.EMERGENCY)),
        )
        .order_by("day")
    )
    withdrawals = {row["day"].date(): row for row in withdrawal_rows}

    daily = []
    for day in day_list:
        u = usage.get(day, {})
        w = withdrawals.get(day, {})
        daily.append(
            {
                "date": day,
                "energy_used": int(u.get("total_energy") or 0),
                "pooled_energy": int(u.get("pooled_total") or 0),
                "external_energy": int(u.get("external_total") or 0),
                "trx_burned_sun": int(u.get("burned_sun") or 0),
                "trx_saved_sun": int(u.get("saved_sun") or 0),
                "withdrawals": int(w.get("requested") or 0),
                "confirmed": int(w.get("confirmed") or 0),
                "failed": int(w.get("failed") or 0),
                "emergency": int(w.get("emergency") or 0),
            }
        )

    heat_rows = (
        logs.annotate(weekday=ExtractIsoWeekDay("at"), hour=ExtractHour("at"))
        .values("weekday", "hour")
        .annotate(total=Sum("energy_used"))
        .order_by()
    )
    heatmap = [[0] * 24 for _ in range(7)]  # [ISO weekday - 1][hour]
    for row in heat_rows:
        heatmap[row["weekday"] - 1][row["hour"]] = int(row["total"] or 0)
    by_hour = [sum(heatmap[d][h] for d in range(7)) for h in range(24)]
    peak_hours = [
        {"hour": h, "energy_used": by_hour[h]}
        for h in sorted(range(24), key=lambda h: (-by_hour[h], h))[:PEAK_HOURS]
        if by_hour[h] > 0
    ]

    return {
        "partner_id": partner_id,
        "days": days,
        "since": start,
        "totals": {
            "energy_used": sum(d["energy_used"] for d in daily),
            "pooled_energy": sum(d["pooled_energy"] for d in daily),
            "trx_burned_sun": sum(d["trx_burned_sun"] for d in daily),
            "trx_saved_sun": sum(d["trx_saved_sun"] for d in daily),
            "withdrawals": sum(d["withdrawals"] for d in daily),
        },
        "daily": daily,
        "heatmap": heatmap,
        "peak_hours": peak_hours,
        "energy_24h": _energy_series(
            partner_id=partner_id, since=now - timedelta(hours=24), bucket="hour"
        ),
        "energy_daily": _energy_series(partner_id=partner_id, since=start, bucket="day"),
        "forecast": _forecast(partner_id=partner_id, now=now),
    }


def _energy_series(*, partner_id: int | None, since: datetime, bucket: str) -> list[dict[str, Any]]:
    """Per pool and bucket: the latest limit and used energy seen in it (one query).

    Available is limit minus used at the snapshot (snapshots do not record reservations).
    """
    trunc = TruncHour if bucket == "hour" else TruncDay
    snapshots = _scope(
        PoolSnapshot.objects.filter(taken_at__gte=since).exclude(
            pool__status=EnergyPool.Status.ARCHIVED
        ),
        partner_id,
        "pool__partner_id",
    )
    rows = (
        snapshots.annotate(t=trunc("taken_at", tzinfo=UTC))
        .values("pool_id", "t")
        .annotate(top_limit=Max("energy_limit"), top_used=Max("energy_used"))
        .order_by("pool_id", "t")
    )
    series: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        series.setdefault(row["pool_id"], []).append(
            {
                "t": row["t"],
                "used": row["top_used"],
                "available": max(0, row["top_limit"] - row["top_used"]),
            }
        )
    return [{"pool_id": pool_id, "points": points} for pool_id, points in series.items()]


def _forecast(*, partner_id: int | None, now: datetime) -> list[dict[str, Any]]:
    """The newest forecast of each pool, future points only; empty until predictions exist."""
    newest = (
        EnergyPrediction.objects.filter(pool_id=OuterRef("pool_id"))
        .order_by("-made_at")
        .values("made_at")[:1]
    )
    rows = (
        _scope(EnergyPrediction.objects.all(), partner_id, "pool__partner_id")
        .filter(target_at__gt=now, made_at=Subquery(newest))
        .values("pool_id", "target_at", "predicted_energy", "lower_energy", "upper_energy")
        .order_by("pool_id", "target_at")
    )
    series: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        series.setdefault(row["pool_id"], []).append(
            {
                "t": row["target_at"],
                "predicted": row["predicted_energy"],
                "lower": row["lower_energy"],
                "upper": row["upper_energy"],
            }
        )
    return [{"pool_id": pool_id, "points": points} for pool_id, points in series.items()]
