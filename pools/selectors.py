"""Reads about pools. Partner scope is applied here, never in views."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import (
    Avg,
    Count,
    DecimalField,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Greatest
from django.http import Http404
from django.utils import timezone

from common.db import CompiledRows, compiled_rows, fetch_together
from common.metrics import GaugeSample
from common.readcache import cached_shared
from partners.models import PartnerWallet
from partners.selectors import Caller
from pools.chain.signers import LocalSigner
from pools.models import (
    AVAILABLE_ENERGY,
    EnergyPool,
    EnergyShare,
    EnergyUsageLog,
    PriceQuote,
    RentalOrder,
    Reservation,
    SigningKey,
    StakingOperation,
    available_energy,
)

RECENT_USAGE_DAYS = 7


def pool_list_for_partner(*, caller: Caller) -> QuerySet[EnergyPool]:
    """The caller's partner's pools (archived ones included; filter by status to hide them)."""
    return (
        EnergyPool.objects.filter(partner_id=caller.partner.pk)
        .select_related("partner")
        .order_by("id")
    )


def pool_get_for_partner(*, caller: Caller, pool_id: int) -> EnergyPool:
    """The pool `pool_id` if it belongs to the caller's partner; 404 otherwise (never 403)."""
    pool = EnergyPool.objects.select_related("partner").filter(pk=pool_id).first()
    if pool is None or pool.partner_id != caller.partner.pk:
        raise Http404
    return pool


def _wallets_with_pool(partner_id: int) -> QuerySet[PartnerWallet]:
    # `pool_id`: the partner's pool on the wallet's address, if it was added as one.
    pool = EnergyPool.objects.filter(partner_id=partner_id, address=OuterRef("address"))
    return PartnerWallet.objects.filter(partner_id=partner_id).annotate(
        pool_id=Subquery(pool.values("pk")[:1])
    )


def wallet_list_for_partner(*, caller: Caller) -> QuerySet[PartnerWallet]:
    """The caller's partner's wallets, newest first, each with `pool_id` (or None)."""
    return _wallets_with_pool(caller.partner.pk).order_by("-created_at", "-id")


def wallet_get_for_partner(*, caller: Caller, wallet_id: int) -> PartnerWallet:
    """The wallet `wallet_id` (with `pool_id`) if it is the caller's partner's; 404 otherwise."""
    wallet = (
        _wallets_with_pool(caller.partner.pk).select_related("partner").filter(pk=wallet_id).first()
    )
    if wallet is None or wallet.partner_id != caller.partner.pk:
        raise Http404
    return wallet


def pool_status_summary() -> dict[str, object]:
    """Pools by status and the energy totals of active ones (for the status endpoint)."""
    by_status = dict(
        EnergyPool.objects.values_list("status").annotate(n=Count("id")).order_by("status")
    )
    totals = EnergyPool.objects.filter(status=EnergyPool.Status.ACTIVE).aggregate(
        energy_limit=Coalesce(Sum("energy_limit"), 0),
        energy_used=Coalesce(Sum("energy_used"), 0),
        reserved_energy=Coalesce(Sum("reserved_energy"), 0),
    )
    return {"by_status": by_status, **totals}


def signer_for_address(*, address: str) -> LocalSigner | None:
    """The signer holding `address`'s key, or None if the platform has no key for it."""
    key = SigningKey.objects.filter(address=address).only("address", "ciphertext").first()
    if key is None:
        return None
    return LocalSigner(address=key.address, ciphertext=key.ciphertext)


def days_until_depleted(*, limit: int, committed: int, daily_usage: float) -> float | None:
    """Days until used-or-reserved energy reaches the limit at a steady `daily_usage`.

    Usage recovers linearly over 24 h, so under a constant rate D per day the used energy
    u follows du/dt = D - u (t in days) and settles at D. A pool with D ≤ limit never runs
    out (None); otherwise u reaches the limit after ln((D - u0) / (D - limit)) days.
    """
    if daily_usage <= limit:
        return None
    if committed >= limit:
        return 0.0
    return math.log((daily_usage - committed) / (daily_usage - limit))


@dataclass(frozen=True)
class PoolEnergy:
    """The live energy picture of one pool (docs/data-model.md, EnergyPool)."""

    pool: EnergyPool
    daily_usage: float
    days_left: float | None
    stale: bool

    @property
    def available(self) -> int:
        return self.pool.available_energy


def recent_daily_usage(*, pool_ids: list[int], now: datetime | None = None) -> dict[int, float]:
    """Average energy used per day over the last week, per pool (one query)."""
    since = (now or timezone.now()) - timedelta(days=RECENT_USAGE_DAYS)
    rows = (
        EnergyUsageLog.objects.filter(pool_id__in=pool_ids, at__gte=since)
        .values("pool_id")
        .annotate(total=Sum("energy_used"))
        .values_list("pool_id", "total")
    )
    return {pool_id: float(total) / RECENT_USAGE_DAYS for pool_id, total in rows}


def with_recent_usage(
    pools: QuerySet[EnergyPool], *, now: datetime | None = None
) -> QuerySet[EnergyPool]:
    """`pools`, each annotated with `recent_usage`: the energy it used over the last week
    (a correlated subquery on the usage log's (pool, at) index, so the pools and their usage
    come in one query; `pool_energy` then needs none)."""
    return _with_usage_since(pools, (now or timezone.now()) - timedelta(days=RECENT_USAGE_DAYS))


def _with_usage_since(pools: QuerySet[EnergyPool], since: Any) -> QuerySet[EnergyPool]:
    used = (
        EnergyUsageLog.objects.filter(pool_id=OuterRef("pk"), at__gte=since)
        .order_by()
        .values("pool_id")
        .annotate(total=Sum("energy_used"))
        .values("total")
    )
    return pools.annotate(recent_usage=Coalesce(Subquery(used), Value(0)))


def pool_energy(*, pools: list[EnergyPool], now: datetime | None = None) -> list[PoolEnergy]:
    """The energy picture of each of `pools`: no query if they come `with_recent_usage`
    (annotated at the same `now`), else one whatever their number."""
    now = now or timezone.now()
    if all(hasattr(p, "recent_usage") for p in pools):
        usage = {
            p.pk: float(p.recent_usage) / RECENT_USAGE_DAYS  # type: ignore[attr-defined]
            for p in pools
        }
    else:
        usage = recent_daily_usage(pool_ids=[p.pk for p in pools], now=now)
    stale_before = _stale_before(now)
    result = []
    for pool in pools:
        daily = usage.get(pool.pk, 0.0)
        result.append(
            PoolEnergy(
                pool=pool,
                daily_usage=daily,
                days_left=days_until_depleted(
                    limit=pool.energy_limit,
                    committed=pool.energy_used + pool.reserved_energy,
                    daily_usage=daily,
                ),
                stale=_is_stale(pool.status, pool.last_synced_at, stale_before),
            )
        )
    return result


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.POOL_STALE_AFTER_SECONDS)


def _is_stale(status: str, last_synced_at: datetime | None, stale_before: datetime) -> bool:
    """Not synced lately (archived pools are never synced, so never stale)."""
    return status != EnergyPool.Status.ARCHIVED and (
        last_synced_at is None or last_synced_at < stale_before
    )


# The stored columns of a pool's energy picture (`PoolEnergy` and its serializer).
POOL_ENERGY_FIELDS = (
    "id",
    "partner_id",
    "address",
    "label",
    "status",
    "energy_limit",
    "energy_used",
    "reserved_energy",
    "staked_trx_sun",
    "trx_balance_sun",
    "last_synced_at",
    "last_sync_error",
)


def with_forecast_accuracy(pools: QuerySet[EnergyPool]) -> QuerySet[EnergyPool]:
    """Annotate the accuracy of each pool's scored 24 h forecasts, as correlated subqueries
    (no GROUP BY over the pool's columns, so other annotations fold into the same query).
    The forecast model is reached through the pool's reverse relation (`predictions`), so
    pools never imports the predictions app."""
    prediction = EnergyPool._meta.get_field("predictions").related_model
    scored = (
        prediction._default_manager.filter(
            pool_id=OuterRef("pk"), horizon_hours=24, abs_error__isnull=False
        )
        .order_by()
        .values("pool_id")
    )
    return pools.annotate(
        forecast_scored=Coalesce(Subquery(scored.annotate(n=Count("pk")).values("n")), 0),
        forecast_mae=Subquery(
            scored.annotate(mae=Avg("abs_error", output_field=FloatField())).values("mae")
        ),
        forecast_coverage=Subquery(
            scored.annotate(
                share=Avg(Cast("covered", output_field=IntegerField()), output_field=FloatField())
            ).values("share")
        ),
    )


def monitor_pools(partner_id: int) -> QuerySet[EnergyPool]:
    """The pools the partner's monitor shows (archived left out, by id), with the accuracy
    of their forecasts."""
    return with_forecast_accuracy(
        EnergyPool.objects.filter(partner_id=partner_id)
        .exclude(status=EnergyPool.Status.ARCHIVED)
        .order_by("id")
    )


def pool_energy_rows_and_savings(
    *,
    name: str,
    pools: Callable[[int], QuerySet[EnergyPool]],
    partner_id: int,
    now: datetime,
    since: datetime,
    fields: tuple[str, ...] = (),
    also: Sequence[tuple[CompiledRows, Mapping[str, Any]]] = (),
) -> tuple[list[dict[str, Any]], int, list[list[dict[str, Any]]]]:
    """The energy picture of the partner's pools as plain rows, for the hot reads
    (bench/reads.py), which build no model instances; and its `trx_saved_sun` since `since`.

    `pools(partner_id)` is the partner's pools (as a queryset). Each comes as a `values()`
    row of `POOL_ENERGY_FIELDS` and `fields` (any of the queryset's annotations, or related
    columns), with `available`, `daily_usage`, `days_left` and `stale` added, computed as
    `pool_energy` does. Its week's usage and the savings are folded into the same query
    (`with_recent_usage`, `trx_saved_sun_subquery`), which the ORM compiles once per process
    under `name` (common/db.py `compiled_rows`: compiling cost more than running it), so
    `pools` must depend on nothing but the partner's id. A second query only when no pool
    is shown to carry the savings. `also`: other compiled reads of the page, run in the same
    round trip (common/db.py `fetch_together`); their rows come third.
    """

    def build(partner_id: int, week_since: datetime, savings_since: datetime) -> QuerySet[Any]:
        rows: QuerySet[Any] = _with_usage_since(
            pools(partner_id).annotate(
                saved_sun=trx_saved_sun_subquery(partner_id=partner_id, since=savings_since)
            ),
            week_since,
        ).values(*POOL_ENERGY_FIELDS, *fields, "saved_sun", "recent_usage")
        return rows

    query = compiled_rows(name, build, partner_id=int, week_since=datetime, savings_since=datetime)
    values = {
        "partner_id": partner_id,
        "week_since": now - timedelta(days=RECENT_USAGE_DAYS),
        "savings_since": since,
    }
    rows, *others = fetch_together([(query, values), *also])
    if not rows:
        return rows, trx_saved_sun(partner_id=partner_id, since=since), others
    saved = rows[0]["saved_sun"]
    stale_before = _stale_before(now)
    for row in rows:
        del row["saved_sun"]
        limit, used, reserved = row["energy_limit"], row["energy_used"], row["reserved_energy"]
        daily = float(row.pop("recent_usage")) / RECENT_USAGE_DAYS
        row["available"] = available_energy(limit=limit, used=used, reserved=reserved)
        row["daily_usage"] = daily
        row["days_left"] = days_until_depleted(
            limit=limit, committed=used + reserved, daily_usage=daily
        )
        row["stale"] = _is_stale(row["status"], row["last_synced_at"], stale_before)
    return rows, int(saved or 0), others


def energy_totals_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """`energy_totals` over `pool_energy_rows`."""
    return _totals(
        pools=len(rows),
        limit=sum(r["energy_limit"] for r in rows),
        used=sum(r["energy_used"] for r in rows),
        reserved=sum(r["reserved_energy"] for r in rows),
        available=sum(r["available"] for r in rows),
        daily_usage=sum(r["daily_usage"] for r in rows),
    )


def energy_totals(entries: list[PoolEnergy]) -> dict[str, Any]:
    """Totals over the given pools, in the same shape as the overview's."""
    return _totals(
        pools=len(entries),
        limit=sum(e.pool.energy_limit for e in entries),
        used=sum(e.pool.energy_used for e in entries),
        reserved=sum(e.pool.reserved_energy for e in entries),
        available=sum(e.available for e in entries),
        daily_usage=sum(e.daily_usage for e in entries),
    )


def energy_shares_for_partner(*, caller: Caller) -> QuerySet[EnergyShare]:
    """The caller's partner's energy loans, newest first, with the staking operations that
    made and returned them: between its pools, and to its pools from an operator reserve (a
    loan's partner is always the receiver's, so a reserve's loans to others never show)."""
    return (
        EnergyShare.objects.filter(partner_id=caller.partner.pk)
        .select_related("donor", "delegate_operation", "undelegate_operation")
        .order_by("-created_at", "-id")
    )


def usage_logs_for_partner(*, partner_id: int) -> QuerySet[EnergyUsageLog]:
    return (
        EnergyUsageLog.objects.filter(pool__partner_id=partner_id)
        .select_related("pool")
        .order_by("-at", "-id")
    )


def partner_energy_overview() -> dict[str, object]:
    """Totals across partners and per partner, from database aggregates (three queries)."""
    rows = (
        EnergyPool.objects.exclude(status=EnergyPool.Status.ARCHIVED)
        .values("partner_id", "partner__name")
        .annotate(
            pools=Count("id"),
            # Aliases differ from the field names, which F() in AVAILABLE_ENERGY refers to.
            available_total=Coalesce(Sum(Greatest(AVAILABLE_ENERGY, Value(0))), 0),
            limit_total=Coalesce(Sum("energy_limit"), 0),
            used_total=Coalesce(Sum("energy_used"), 0),
            reserved_total=Coalesce(Sum("reserved_energy"), 0),
        )
        .order_by("partner__name")
    )
    since = timezone.now() - timedelta(days=RECENT_USAGE_DAYS)
    usage = dict(
        EnergyUsageLog.objects.filter(at__gte=since)
        .values("pool__partner_id")
        .annotate(total=Sum("energy_used"))
        .values_list("pool__partner_id", "total")
    )
    partners = [
        _totals(
            pools=row["pools"],
            limit=row["limit_total"],
            used=row["used_total"],
            reserved=row["reserved_total"],
            available=row["available_total"],
            daily_usage=float(usage.get(row["partner_id"], 0)) / RECENT_USAGE_DAYS,
        )
        | {"partner_id": row["partner_id"], "partner_name": row["partner__name"]}
        for row in rows
    ]
    totals = _totals(
        pools=sum(p["pools"] for p in partners),
        limit=sum(p["energy_limit"] for p in partners),
        used=sum(p["energy_used"] for p in partners),
        reserved=sum(p["reserved_energy"] for p in partners),
        available=sum(p["available_energy"] for p in partners),
        daily_usage=sum(p["daily_usage"] for p in partners),
    )
    return {"totals": totals, "partners": partners}


def _totals(
    *, pools: int, limit: int, used: int, reserved: int, available: int, daily_usage: float
) -> dict[str, Any]:
    percent = Decimal(used + reserved) * 100 / limit if limit else Decimal(0)
    return {
        "pools": pools,
        "energy_limit": limit,
        "energy_used": used,
        "reserved_energy": reserved,
        # Each pool counts at zero at least (EnergyPool.available_energy): one over-committed
        # pool does not hide another's free energy.
        "available_energy": available,
        "daily_usage": daily_usage,
        "usage_percent": percent.quantize(Decimal("0.01")),
    }


def staking_operation_for_key(*, pool: EnergyPool, key: str) -> StakingOperation | None:
    """The operation `key` recorded on `pool`, or None."""
    return StakingOperation.objects.filter(pool=pool, idempotency_key=key).first()


def staking_operations_for_pool(*, pool: EnergyPool) -> QuerySet[StakingOperation]:
    return StakingOperation.objects.filter(pool=pool).order_by("-created_at", "-id")


# What a rental order costs the partner's budget: every order not failed (a planned one is
# about to pay), and a failed one whose payment went out and was not refunded.
RENTAL_CHARGED = ~Q(state=RentalOrder.State.FAILED) | Q(
    payment__state=StakingOperation.State.CONFIRMED, refund_txid=""
)


def rental_spent_sun(*, partner_id: int, since: datetime) -> int:
    """Sun the partner's rental orders created since `since` cost its budget (one query)."""
    spent: int = (
        RentalOrder.objects.filter(pool__partner_id=partner_id, created_at__gte=since)
        .filter(RENTAL_CHARGED)
        .aggregate(total=Coalesce(Sum("cost_sun"), 0))["total"]
    )
    return spent


def rental_orders_for_partner(*, caller: Caller) -> QuerySet[RentalOrder]:
    """The caller's partner's rental orders, newest first."""
    return (
        RentalOrder.objects.filter(pool__partner_id=caller.partner.pk)
        .select_related("payment")
        .order_by("-created_at", "-id")
    )


def rental_order_get_for_partner(*, caller: Caller, order_id: int) -> RentalOrder:
    """One of the caller's partner's rental orders; 404 for any other (never 403)."""
    order = rental_orders_for_partner(caller=caller).filter(pk=order_id).first()
    if order is None:
        raise Http404
    return order


def pool_gauges() -> list[GaugeSample]:
    """Pools by status, and the energy free now across active pools (for /metrics)."""
    samples = [
        GaugeSample("pools", "Energy pools by status", float(n), {"status": str(status)})
        for status, n in EnergyPool.objects.values_list("status")
        .annotate(n=Count("id"))
        .order_by("status")
    ]
    available = EnergyPool.objects.filter(status=EnergyPool.Status.ACTIVE).aggregate(
        free=Coalesce(Sum(F("energy_limit") - F("energy_used") - F("reserved_energy")), 0)
    )["free"]
    samples.append(
        GaugeSample("pool_energy_available", "Energy free now across active pools", available)
    )
    return samples


# --- prices ---------------------------------------------------------------------------

CHAIN_SOURCE = "chain"  # PriceQuote.source of the chain's own fees
SAVING_KINDS = (EnergyUsageLog.Kind.WITHDRAWAL,)
LATEST_WINDOW = timedelta(days=1)


def latest_prices() -> list[PriceQuote]:
    """The newest quote of each (source, kind, duration) recorded in the last day.

    Portable (no DISTINCT ON, so the embedded SQLite serves it too) and bounded: a day of
    quotes every five minutes is a few thousand rows at most.
    """
    newest: dict[tuple[str, str, int | None], PriceQuote] = {}
    recent = PriceQuote.objects.filter(quoted_at__gte=timezone.now() - LATEST_WINDOW)
    for quote in recent.order_by("-quoted_at", "-id"):
        newest.setdefault((quote.source, quote.kind, quote.duration_days), quote)
    return sorted(newest.values(), key=lambda q: (q.source, q.kind, q.duration_days or 0))


SUN = DecimalField(max_digits=30, decimal_places=6)


def _energy_fees_until(at: Any) -> QuerySet[PriceQuote]:
    """The chain's recorded energy fees at or before `at`, newest first."""
    return PriceQuote.objects.filter(
        source=CHAIN_SOURCE, kind=PriceQuote.Kind.ENERGY_FEE, quoted_at__lte=at
    ).order_by("-quoted_at")


def energy_fee_at(at: datetime) -> Decimal:
    """The chain's energy fee in force at `at`: the last recorded at or before it, else the
    platform's default (`DEFAULT_ENERGY_FEE_SUN`), as the savings reads price a log that
    recorded none. What a usage log keeps as its `energy_fee_sun`."""
    fee: Decimal | None = _energy_fees_until(at).values_list("price_sun", flat=True).first()
    return Decimal(settings.DEFAULT_ENERGY_FEE_SUN) if fee is None else fee


FEE = DecimalField(max_digits=20, decimal_places=6)


def usage_log_fee() -> Coalesce:
    """A usage log's energy fee, for annotating logs: the one it recorded when written,
    else the last recorded at or before it, else the default (PostgreSQL evaluates COALESCE
    lazily, so the lookup runs only for logs that recorded none). Every savings figure
    prices logs with it, so the dashboards, analytics and a withdrawal's page agree."""
    fee_then = _energy_fees_until(OuterRef("at")).values("price_sun")[:1]
    return Coalesce(
        "energy_fee_sun",
        Subquery(fee_then, output_field=FEE),
        Value(Decimal(settings.DEFAULT_ENERGY_FEE_SUN)),
        output_field=FEE,
    )


def _saved_sun_logs(*, partner_id: int | None, since: datetime | None) -> QuerySet[EnergyUsageLog]:
    """The usage logs that saved TRX, each annotated with its `fee` (`usage_log_fee`)."""
    logs = EnergyUsageLog.objects.filter(kind__in=SAVING_KINDS)
    if partner_id is not None:
        logs = logs.filter(pool__partner_id=partner_id)
    if since is not None:
        logs = logs.filter(at__gte=since)
    return logs.annotate(fee=usage_log_fee())


def trx_saved_sun(*, partner_id: int | None = None, since: datetime | None = None) -> int:
    """Sun not burned because withdrawals used pooled energy: each unit of stake energy they
    used, at the energy fee the chain charged then (`usage_log_fee`)."""
    total = _saved_sun_logs(partner_id=partner_id, since=since).aggregate(
        saved=Sum(F("energy_used") * F("fee"), output_field=SUN)
    )["saved"]
    return int(total or 0)


def trx_saved_sun_subquery(*, partner_id: int, since: datetime) -> Subquery:
    """`trx_saved_sun(partner_id=..., since=...)` as a scalar subquery (null when nothing was
    saved), for a read to fold it into the query it runs anyway: it refers to no outer
    column, so the database computes it once however many rows carry it (PostgreSQL's
    InitPlan; SQLite caches an uncorrelated subquery's value too)."""
    saved = (
        _saved_sun_logs(partner_id=partner_id, since=since)
        .order_by()
        .values("pool__partner_id")
        .annotate(saved=Sum(F("energy_used") * F("fee"), output_field=SUN))
        .values("saved")
    )
    return Subquery(saved, output_field=SUN)


def latest_prices_cached() -> list[PriceQuote]:
    """`latest_prices`, shared by every dashboard for a few seconds or until the next
    `prices_monitor` run (common/readcache.py)."""
    return cached_shared(name="prices", compute=latest_prices)


def latest_energy_fee_sun() -> int:
    """The chain's energy price as last recorded by `monitor_prices` (or the default)."""
    latest = (
        PriceQuote.objects.filter(source=CHAIN_SOURCE, kind=PriceQuote.Kind.ENERGY_FEE)
        .order_by("-quoted_at")
        .values_list("price_sun", flat=True)
        .first()
    )
    return int(latest) if latest is not None else settings.DEFAULT_ENERGY_FEE_SUN


# --- the ledger's invariant -------------------------------------------------------------


@dataclass(frozen=True)
class LedgerBreach:
    pool_id: int
    partner_id: int
    reserved_energy: int
    pending_total: int

    @property
    def message(self) -> str:
        return (
            f"Pool {self.pool_id}: reserved_energy {self.reserved_energy} ≠ "
            f"pending reservations {self.pending_total}."
        )


def ledger_audit() -> list[LedgerBreach]:
    """Pools whose `reserved_energy` differs from the sum of their pending reservations."""
    pending = (
        Reservation.objects.filter(pool=OuterRef("pk"), state=Reservation.State.PENDING)
        .values("pool")
        .annotate(total=Sum("estimated_energy"))
        .values("total")
    )
    rows = (
        EnergyPool.objects.annotate(pending_total=Coalesce(Subquery(pending), 0))
        .exclude(reserved_energy=F("pending_total"))
        .values_list("pk", "partner_id", "reserved_energy", "pending_total")
    )
    return [LedgerBreach(*row) for row in rows]


def own_usage_since(
    since: dict[int, int], *, kinds: Sequence[str]
) -> dict[int, list[tuple[int, int]]]:
    """Per pool, the energy the platform logged itself (`kinds`) after `since[pool_id]`
    (epoch milliseconds), as (energy, at_ms) pairs; one query for any number of pools.
    Sync's external-drain check compares it with what the chain shows."""
    if not since:
        return {}
    earliest = datetime.fromtimestamp(min(since.values()) / 1000, tz=UTC)
    rows = EnergyUsageLog.objects.filter(
        pool_id__in=list(since), kind__in=kinds, at__gt=earliest
    ).values_list("pool_id", "energy_used", "at")
    usage: dict[int, list[tuple[int, int]]] = {}
    for pool_id, energy, at in rows:
        at_ms = int(at.timestamp() * 1000)
        if at_ms > since[pool_id]:
            usage.setdefault(pool_id, []).append((energy, at_ms))
    return usage


def pools_with_signed_in_flight(pool_ids: Sequence[int]) -> set[int]:
    """Of `pool_ids`, the pools with a signed transaction of ours not yet settled (a pending
    reservation that no longer expires)."""
    return set(
        Reservation.objects.filter(
            pool_id__in=list(pool_ids),
            state=Reservation.State.PENDING,
            expires_at__isnull=True,
        ).values_list("pool_id", flat=True)
    )
