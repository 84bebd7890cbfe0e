"""Reads about withdrawals, customers and balances. Partner scope is applied here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from alerts.services.sources import QueueFacts
from common.db import compiled_query
from common.metrics import GaugeSample
from common.tron import SUN_PER_TRX
from partners.models import Customer, Partner
from partners.selectors import Caller
from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD
from pools.chain.errors import ChainError
from pools.models import (
    AVAILABLE_ENERGY,
    EnergyPool,
    EnergyUsageLog,
    Reservation,
    SigningKey,
)
from pools.selectors import energy_fee_at, latest_energy_fee_sun, recent_daily_usage
from withdrawals.models import Attempt, Balance, EmergencyFee, Hold, QueueEntry, Withdrawal

# A USDT transfer's bandwidth and its burn price (docs/tron.md: A USDT transfer, Bandwidth).
USDT_TRANSFER_BANDWIDTH = 345
BANDWIDTH_FEE_SUN = 1_000


def withdrawal_list_for_customer(*, customer: Customer) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(customer=customer).order_by("-created_at", "-id")


def withdrawal_list_for_partner(*, caller: Caller) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(partner_id=caller.partner.pk).order_by("-created_at", "-id")


def withdrawal_get_for_partner(*, caller: Caller, withdrawal_id: int) -> Withdrawal:
    withdrawal = Withdrawal.objects.filter(pk=withdrawal_id).first()
    if withdrawal is None or withdrawal.partner_id != caller.partner.pk:
        raise Http404
    return withdrawal


def customer_list_for_partner(*, caller: Caller) -> QuerySet[Customer]:
    return Customer.objects.filter(partner_id=caller.partner.pk).order_by("external_ref", "id")


def _customer_query(customer_id: int, partner_id: int) -> QuerySet[Customer]:
    return Customer.objects.filter(pk=customer_id, partner_id=partner_id).order_by()


def customer_get_for_partner(*, caller: Caller, customer_id: int) -> Customer:
    """The caller's customer `customer_id`, with the caller's partner as its partner (no
    join); 404 otherwise. On every withdrawal request, so the SQL is compiled once per
    process (`common.db.compiled_query`)."""
    query = compiled_query("customer_for_partner", _customer_query, customer_id=int, partner_id=int)
    params = query.bind(customer_id=customer_id, partner_id=caller.partner.pk)
    customer = next(iter(Customer.objects.raw(query.sql, params)), None)
    if customer is None:
        raise Http404
    customer.partner = caller.partner
    return customer


def balances_for_customer(*, customer: Customer) -> QuerySet[Balance]:
    return Balance.objects.filter(customer=customer).order_by("currency")


def withdrawal_status_summary() -> dict[str, object]:
    """Withdrawals by status (for the status endpoint)."""
    return {
        "by_status": dict(
            Withdrawal.objects.values_list("status").annotate(n=Count("id")).order_by("status")
        )
    }


def _sending() -> QuerySet[EnergyPool]:
    return EnergyPool.objects.filter(
        Exists(SigningKey.objects.filter(address=OuterRef("address"))),
        status=EnergyPool.Status.ACTIVE,
        custody=EnergyPool.Custody.CUSTODIAL,
        role=EnergyPool.Role.ENERGY,
    )


def sending_pools(*, partner_id: int) -> QuerySet[EnergyPool]:
    """The partner's pools that send standard withdrawals: active custodial energy pools the
    platform holds a key for (a withdrawal on a pool it cannot sign for would only wait).
    Every one of them serves the partner's one queue."""
    return _sending().filter(partner_id=partner_id)


def _next_pools(partner_id: int) -> QuerySet[EnergyPool]:
    """The partner's sending pools, the one with the most energy free now first (a new
    request reserves there when nobody of the partner is queued)."""
    pools = sending_pools(partner_id=partner_id).annotate(free=AVAILABLE_ENERGY)
    return pools.order_by("-free", "pk")


@dataclass(frozen=True, slots=True)
class IntakeLookup:
    """What a new withdrawal request reads before it asks the node (`intake_lookup`)."""

    pool_id: int | None  # the first of `_next_pools`, None when the partner has none
    pool_address: str | None
    replay_id: int | None  # the withdrawal the Idempotency-Key already made, if any
    replay_hash: str | None  # and its request's digest


def _intake_lookup_query(partner_id: int, key: str | None = None) -> QuerySet[Any, Any]:
    pools = _next_pools(partner_id)
    prior = (
        Withdrawal.objects.filter(partner_id=partner_id, idempotency_key=key)
        if key is not None
        else Withdrawal.objects.filter(pk__isnull=True)  # no key: nothing to replay
    ).order_by()
    return (
        Partner.objects.filter(pk=partner_id)
        .order_by()
        .annotate(
            pool_id=Subquery(pools.values("pk")[:1]),
            pool_address=Subquery(pools.values("address")[:1]),
            replay_id=Subquery(prior.values("pk")[:1]),
            replay_hash=Subquery(prior.values("request_hash")[:1]),
        )
        .values_list("pool_id", "pool_address", "replay_id", "replay_hash")
    )


def intake_lookup(*, partner_id: int, key: str | None) -> IntakeLookup:
    """The pool a new request of the partner would reserve on and what `key` already made,
    in one query whose SQL the ORM compiles once per process (`common.db.compiled_query`):
    on the intake path compiling the querysets cost more than running them."""
    if key is None:
        query = compiled_query("intake_lookup", _intake_lookup_query, partner_id=int)
        row = query.fetchone(partner_id=partner_id)
    else:
        query = compiled_query("intake_lookup_keyed", _intake_lookup_query, partner_id=int, key=str)
        row = query.fetchone(partner_id=partner_id, key=key)
    if row is None:
        return IntakeLookup(pool_id=None, pool_address=None, replay_id=None, replay_hash=None)
    return IntakeLookup(pool_id=row[0], pool_address=row[1], replay_id=row[2], replay_hash=row[3])


@dataclass(frozen=True)
class SendingRoom:
    """The partner's sending pools as the queue sees them: energy free (limit - used -
    reserved, may be negative) and whole limit, per pool id."""

    free: dict[int, int]
    limits: dict[int, int]

    @property
    def available(self) -> int:
        """Energy free over all the pools."""
        return sum(max(0, free) for free in self.free.values())

    @property
    def most_free(self) -> int:
        """The most any one transfer could get now (it is paid by one pool)."""
        return max((max(0, free) for free in self.free.values()), default=0)

    @property
    def largest_limit(self) -> int:
        """A queued withdrawal needing more than this can never be served as things stand."""
        return max(self.limits.values(), default=0)

    @property
    def regeneration_per_second(self) -> float:
        """Energy regrows linearly over 24 h: each pool's whole limit a day, summed."""
        return sum(self.limits.values()) / 86_400

    def regrow_time(self, energy: int, *, per_day: int) -> float | None:
        """How long (in units of which a day has `per_day`) until the first pool alone has
        `energy` free, each regrowing its own limit a day; None if no pool's limit is that
        large. A transfer is paid by one pool: energy free in pieces does not send it."""
        times = [
            max(0, energy - self.free[pk]) / (limit / per_day)
            for pk, limit in self.limits.items()
            if limit >= energy
        ]
        return min(times, default=None)


def sending_room(*, partner_id: int) -> SendingRoom:
    """The partner's sending pools' numbers, in one query."""
    rows = sending_pools(partner_id=partner_id).values_list(
        "pk", "energy_limit", "energy_used", "reserved_energy"
    )
    free: dict[int, int] = {}
    limits: dict[int, int] = {}
    for pk, limit, used, reserved in rows:
        free[pk] = limit - used - reserved
        limits[pk] = limit
    return SendingRoom(free=free, limits=limits)


def _covered() -> Exists:
    """A queue entry that one of its partner's sending pools could cover once regrown."""
    return Exists(
        _sending().filter(
            partner_id=OuterRef("partner_id"), energy_limit__gte=OuterRef("energy_needed")
        )
    )


def queue_blocking(*, partner_id: int) -> QuerySet[QueueEntry]:
    """The partner's queue entries that hold their place: those one of the partner's sending
    pools could cover once it has regrown. One that needs more than every such pool's
    whole limit cannot be served as things stand; it keeps its place but nobody waits
    behind it (`queue_unservable`; expire_and_audit raises an alert for it)."""
    return QueueEntry.objects.filter(_covered(), partner_id=partner_id)


def queue_blocking_sql(*, partner_id: int) -> tuple[str, list[object]]:
    """`queue_blocking`'s ids as SQL and parameters, to embed in a hand-written statement
    (compiled by the ORM once per process: `common.db.compiled_query`)."""
    query = compiled_query(
        "queue_blocking",
        lambda partner_id: queue_blocking(partner_id=partner_id).order_by().values("pk"),
        partner_id=int,
    )
    return query.sql, query.bind(partner_id=partner_id)


def queue_blocking_before(*, partner_id: int, mark: int) -> bool:
    """Whether the partner has a `queue_blocking` entry whose id is below `mark` (a value of
    the entries' id sequence: entries inserted before it was drawn). One round trip, compiled
    once per process (the intake's check after its one statement)."""
    query = compiled_query(
        "queue_blocking_before",
        lambda partner_id, mark: (
            queue_blocking(partner_id=partner_id).filter(pk__lt=mark).order_by().values("pk")[:1]
        ),
        partner_id=int,
        mark=int,
    )
    return query.fetchone(partner_id=partner_id, mark=mark) is not None


@dataclass(frozen=True)
class Unservable:
    """A partner's queue entries that none of its sending pools could ever cover."""

    oldest: QueueEntry
    count: int
    largest_limit: int | None  # of the partner's sending pools; None: it has none


def queue_unservable() -> list[Unservable]:
    """Per partner, the oldest queue entry that none of the partner's sending pools could
    ever cover as things stand (it needs more than every one's whole limit, or the partner
    has none), with how many of the partner's entries are in that state. Two queries."""
    stuck = QueueEntry.objects.exclude(_covered())
    counts = dict(
        stuck.order_by().values("partner_id").annotate(n=Count("pk")).values_list("partner_id", "n")
    )
    largest = (
        _sending()
        .filter(partner_id=OuterRef("partner_id"))
        .order_by("-energy_limit")
        .values("energy_limit")[:1]
    )
    oldest = (
        QueueEntry.objects.exclude(_covered())
        .filter(partner_id=OuterRef("partner_id"))
        .order_by("enqueued_at", "pk")
        .values("pk")[:1]
    )
    heads = (
        stuck.annotate(largest_limit=Subquery(largest))
        .filter(pk=Subquery(oldest))
        .order_by("partner_id")
    )
    return [Unservable(head, counts[head.partner_id], head.largest_limit) for head in heads]


@dataclass(frozen=True)
class EnergyStatus:
    """What a user asking for a withdrawal now should be told (seed document 001)."""

    available_energy: int
    daily_consumption: int
    energy_sufficient: bool
    estimated_wait_time: int  # minutes
    queue_position: int
    emergency_fee_trx: Decimal
    alert_message: str | None


def energy_status(*, partner_id: int) -> EnergyStatus:
    """The partner's energy for a withdrawal asked for now, as a user sees it: all of the
    partner's sending pools, which serve one queue.

    Sufficient means a transfer to a new USDT holder (the dearer case) fits one pool now and
    nobody of the partner is queued ahead. Otherwise the wait is the queue's energy plus
    this transfer, less what is free over all the pools, at their summed regeneration rate
    — but never less than the time until one pool alone could cover the transfer; -1 when
    none ever could. The emergency fee is that energy burned at the last recorded energy
    price plus a transfer's bandwidth.
    """
    room = sending_room(partner_id=partner_id)
    fee_per_energy = latest_energy_fee_sun()
    emergency_fee = (
        Decimal(
            USDT_TRANSFER_ENERGY_COLD * fee_per_energy + USDT_TRANSFER_BANDWIDTH * BANDWIDTH_FEE_SUN
        )
        / SUN_PER_TRX
    )
    if not room.free:
        return EnergyStatus(
            0,
            0,
            False,
            0,
            0,
            emergency_fee,
            "No pool can send withdrawals now: pay the network fee to go now.",
        )
    queued = (
        QueueEntry.objects.filter(partner_id=partner_id, energy_needed__lte=room.largest_limit)
        .order_by()
        .aggregate(count=Count("pk"), energy=Coalesce(Sum("energy_needed"), 0))
    )
    daily = int(sum(recent_daily_usage(pool_ids=list(room.free)).values()))
    available = room.available
    sufficient = queued["count"] == 0 and room.most_free >= USDT_TRANSFER_ENERGY_COLD
    if sufficient:
        return EnergyStatus(available, daily, True, 0, 0, emergency_fee, None)
    shortfall = max(0, queued["energy"] + USDT_TRANSFER_ENERGY_COLD - available)
    per_minute = sum(room.limits.values()) / (24 * 60)
    one_pool = room.regrow_time(USDT_TRANSFER_ENERGY_COLD, per_day=24 * 60)
    wait = -1 if one_pool is None else math.ceil(max(shortfall / per_minute, one_pool))
    position = queued["count"] + 1
    waiting = f"about {wait} minutes" if wait >= 0 else "until the pool is refilled"
    message = (
        f"Network busy: wait ({waiting}, position {position}) "
        f"or pay about {emergency_fee:.2f} TRX and go now."
    )
    return EnergyStatus(available, daily, False, wait, position, emergency_fee, message)


@dataclass(frozen=True)
class QueuePlace:
    """Where a queued withdrawal stands in its partner's queue: derived, never stored."""

    position: int
    energy_ahead: int
    wait_seconds: int


def queue_place(*, withdrawal: Withdrawal) -> QueuePlace | None:
    """Position in the partner's queue (1 = next), energy needed up to and including this
    one, and the wait until the partner's sending pools have regrown it at their summed
    regeneration rate (each pool's limit per 24 h), less what is free over them now — but
    never less than the time until one pool alone could cover this one; -1 when no pool
    could ever cover it as things stand. Entries ahead that no pool could cover do not
    count for one that a pool could: it does not wait behind them (for one that no pool
    could cover, every older entry counts). None if not queued. Three queries."""
    entry = QueueEntry.objects.filter(withdrawal=withdrawal).first()
    if entry is None:
        return None
    room = sending_room(partner_id=entry.partner_id)
    ahead = QueueEntry.objects.filter(
        Q(enqueued_at__lt=entry.enqueued_at) | Q(enqueued_at=entry.enqueued_at, pk__lt=entry.pk),
        partner_id=entry.partner_id,
    ).order_by()
    if entry.energy_needed <= room.largest_limit:
        ahead = ahead.filter(energy_needed__lte=room.largest_limit)
    totals = ahead.aggregate(count=Count("pk"), energy=Sum("energy_needed"))
    position = totals["count"] + 1
    energy_ahead = (totals["energy"] or 0) + entry.energy_needed
    shortfall = max(0, energy_ahead - room.available)
    one_pool = room.regrow_time(entry.energy_needed, per_day=86_400)
    wait = -1 if one_pool is None else int(max(shortfall / room.regeneration_per_second, one_pool))
    return QueuePlace(position=position, energy_ahead=energy_ahead, wait_seconds=wait)


def emergency_wallet_for(*, partner_id: int) -> EnergyPool | None:
    """The partner's active custodial emergency wallet (sends by burning TRX)."""
    return (
        EnergyPool.objects.filter(
            partner_id=partner_id,
            status=EnergyPool.Status.ACTIVE,
            custody=EnergyPool.Custody.CUSTODIAL,
            role=EnergyPool.Role.EMERGENCY,
        )
        .order_by("pk")
        .first()
    )


def withdrawal_gauges() -> list[GaugeSample]:
    """The queue's length and oldest wait, and withdrawals not yet final by status."""
    queue = QueueEntry.objects.aggregate(n=Count("withdrawal_id"), oldest=Min("enqueued_at"))
    oldest = queue["oldest"]
    wait = (timezone.now() - oldest).total_seconds() if oldest is not None else 0.0
    samples = [
        GaugeSample("queue_length", "Withdrawals waiting for pool energy", float(queue["n"])),
        GaugeSample("queue_oldest_wait_seconds", "How long the oldest queued one waits", wait),
    ]
    moving = (
        Withdrawal.objects.exclude(status__in=Withdrawal.FINAL_STATUSES)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by("status")
    )
    samples += [
        GaugeSample(
            "withdrawals_in_flight", "Withdrawals not final, by status", float(n), {"status": s}
        )
        for s, n in moving
    ]
    return samples


# --- The customer's pages ---------------------------------------------------------------------

# The chain's head moves one block every 3 s: a head read this recent is good enough to
# count confirmations, and every open status page shares it.
HEAD_CACHE_KEY = "withdrawals:chain-head-number"
HEAD_CACHE_SECONDS = 3


def withdrawal_get_for_customer(*, customer: Customer, withdrawal_id: int) -> Withdrawal | None:
    """The customer's own withdrawal, or None (another customer's is as if absent)."""
    return (
        Withdrawal.objects.select_related("pool", "customer")
        .filter(pk=withdrawal_id, customer=customer)
        .first()
    )


def emergency_fee_for(*, withdrawal: Withdrawal) -> EmergencyFee | None:
    """An emergency withdrawal's quote with the pool it pays (None for a standard one)."""
    return (
        EmergencyFee.objects.select_related("withdrawal__pool")
        .filter(withdrawal=withdrawal)
        .first()
    )


def balance_available(*, customer: Customer, currency: str) -> Decimal:
    """What the customer may spend in `currency` now (0 with no balance yet)."""
    available = (
        Balance.objects.filter(customer=customer, currency=currency)
        .values_list("available", flat=True)
        .first()
    )
    return available if available is not None else Decimal(0)


def chain_head_number(*, at_least: int = 0) -> int | None:
    """The chain's head block number, shared for a few seconds; None when no node answers.

    A shared number below `at_least` (a block the caller knows exists) is stale and read
    again."""
    cached = cache.get(HEAD_CACHE_KEY)
    if isinstance(cached, int) and cached >= at_least:
        return cached
    try:
        number = chain_client().head_block().number
    except ChainError:
        return None
    cache.set(HEAD_CACHE_KEY, number, HEAD_CACHE_SECONDS)
    return number


class Step(StrEnum):
    """The steps of a withdrawal's timeline, in order (`ENERGY` or `PAID` by mode)."""

    REQUESTED = "requested"
    QUEUED = "queued"  # the energy step while waiting for it
    RESERVED = "reserved"  # the energy step once energy is promised
    PAID = "paid"  # an emergency withdrawal's fee, in place of energy
    SIGNED = "signed"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepState(StrEnum):
    DONE = "done"
    CURRENT = "current"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True)
class TimelineStep:
    step: Step
    state: StepState
    at: datetime | None


# How far each status has come along the five steps (0 = requested … 4 = confirmed).
_REACHED = {
    Withdrawal.Status.REQUESTED: 0,
    Withdrawal.Status.QUEUED: 0,
    Withdrawal.Status.RESERVED: 1,
    Withdrawal.Status.SIGNED: 2,
    Withdrawal.Status.BROADCAST: 3,
    Withdrawal.Status.CONFIRMED: 4,
}


@dataclass(frozen=True)
class WithdrawalTimeline:
    """Everything the customer's status page shows about one withdrawal, from real state.

    `fee_paid_sun` is an emergency withdrawal's fee (paid, or to pay when `fee` is unpaid);
    `saved_sun` is what a standard withdrawal did not burn thanks to pool energy (an
    estimate until the chain's receipt says how much energy it took)."""

    withdrawal: Withdrawal
    steps: list[TimelineStep]
    queue: QueuePlace | None
    attempt: Attempt | None
    confirmations: int | None
    fee: EmergencyFee | None
    saved_sun: int | None
    saved_is_estimate: bool

    @property
    def final(self) -> bool:
        return self.withdrawal.status in Withdrawal.FINAL_STATUSES

    @property
    def explorer_url(self) -> str | None:
        template = settings.TRON_EXPLORER_URL
        if not template or self.attempt is None:
            return None
        return template.replace("{txid}", self.attempt.txid)

    @property
    def wait_minutes(self) -> int | None:
        if self.queue is None or self.queue.wait_seconds < 0:
            return None
        return (self.queue.wait_seconds + 59) // 60


def _saved_sun(withdrawal: Withdrawal) -> tuple[int | None, bool]:
    """Sun a standard withdrawal did not burn: the stake energy its transfer used at the
    energy price of that moment; before the receipt, its estimate at the latest price."""
    if withdrawal.status == Withdrawal.Status.CONFIRMED:
        log = (
            EnergyUsageLog.objects.filter(
                withdrawal=withdrawal, kind=EnergyUsageLog.Kind.WITHDRAWAL
            )
            .values_list("energy_used", "energy_fee_sun", "at")
            .first()
        )
        if log is None:
            return None, False
        energy, fee, at = log
        # Priced as every savings figure prices a log (pools/selectors.py usage_log_fee).
        return int(energy * (fee if fee is not None else energy_fee_at(at))), False
    if withdrawal.status in Withdrawal.FINAL_STATUSES or not withdrawal.energy_estimate:
        return None, False
    return withdrawal.energy_estimate * latest_energy_fee_sun(), True


def withdrawal_timeline(*, withdrawal: Withdrawal) -> WithdrawalTimeline:
    """The steps `withdrawal` has taken and will take, with their times.

    Standard: requested, energy (queued with position and wait, then reserved), signed,
    sent, confirmed (with confirmations counted from the chain's head, None when no node
    answers). Emergency: the fee paid takes the energy step's place. A failed or cancelled
    withdrawal shows the steps it took, then how it ended. The caller scopes `withdrawal`
    to its customer (`withdrawal_get_for_customer`).
    """
    status = withdrawal.status
    emergency = withdrawal.mode == Withdrawal.Mode.EMERGENCY
    attempt = withdrawal.attempts.order_by("-pk").first()
    fee = emergency_fee_for(withdrawal=withdrawal) if emergency else None
    queue = queue_place(withdrawal=withdrawal) if status == Withdrawal.Status.QUEUED else None
    if emergency:
        energy_step, energy_at = Step.PAID, fee.paid_at if fee else None
    elif queue is not None:
        entry_at = QueueEntry.objects.filter(withdrawal=withdrawal).values_list(
            "enqueued_at", flat=True
        )
        energy_step, energy_at = Step.QUEUED, entry_at.first()
    else:
        reserved_at = (
            Reservation.objects.filter(withdrawal=withdrawal)
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        energy_step, energy_at = Step.RESERVED, reserved_at
    planned = [
        (Step.REQUESTED, withdrawal.created_at),
        (energy_step, energy_at),
        (Step.SIGNED, attempt.created_at if attempt else None),
        (Step.SENT, attempt.last_broadcast_at if attempt else None),
        (Step.CONFIRMED, withdrawal.confirmed_at),
    ]
    steps: list[TimelineStep] = []
    if status in (Withdrawal.Status.FAILED, Withdrawal.Status.CANCELLED):
        for step, at in planned:
            if at is None:
                break
            steps.append(TimelineStep(step, StepState.DONE, at))
        ended = Step.FAILED if status == Withdrawal.Status.FAILED else Step.CANCELLED
        steps.append(TimelineStep(ended, StepState.FAILED, withdrawal.updated_at))
    else:
        reached = _REACHED[Withdrawal.Status(status)]
        for index, (step, at) in enumerate(planned):
            if index <= reached:
                steps.append(TimelineStep(step, StepState.DONE, at))
            elif index == reached + 1:  # in progress: only a queue has a start time
                shown = at if step == Step.QUEUED else None
                steps.append(TimelineStep(step, StepState.CURRENT, shown))
            else:
                steps.append(TimelineStep(step, StepState.PENDING, None))
    confirmations = None
    if status == Withdrawal.Status.CONFIRMED and attempt and attempt.block_number is not None:
        head = chain_head_number(at_least=attempt.block_number)
        confirmations = head - attempt.block_number + 1 if head is not None else None
    saved, estimate = (None, False) if emergency else _saved_sun(withdrawal)
    return WithdrawalTimeline(
        withdrawal=withdrawal,
        steps=steps,
        queue=queue,
        attempt=attempt,
        confirmations=confirmations,
        fee=fee,
        saved_sun=saved,
        saved_is_estimate=estimate,
    )


# Emergency withdrawals paid for and not yet sent: their burn is still to come.
UNSENT_STATUSES = (
    Withdrawal.Status.REQUESTED,
    Withdrawal.Status.QUEUED,
    Withdrawal.Status.RESERVED,
    Withdrawal.Status.SIGNED,
)


def queue_facts() -> dict[int, QueueFacts]:
    """Each partner's queue as the alert rules read it (alerts/services/sources.py): how
    many wait, since when, for how much energy, and what none of its pools could ever
    cover. Three queries."""
    rows = (
        QueueEntry.objects.order_by()
        .values("partner_id")
        .annotate(n=Count("pk"), oldest=Min("enqueued_at"), energy=Sum("energy_needed"))
    )
    stuck = {u.oldest.partner_id: u for u in queue_unservable()}
    facts: dict[int, QueueFacts] = {}
    for row in rows:
        unservable = stuck.get(row["partner_id"])
        facts[row["partner_id"]] = QueueFacts(
            count=row["n"],
            oldest=row["oldest"],
            energy=row["energy"] or 0,
            unservable=unservable.count if unservable else 0,
            unservable_energy=unservable.oldest.energy_needed if unservable else 0,
            largest_limit=unservable.largest_limit if unservable else None,
        )
    return facts


def emergency_burns() -> dict[int, int]:
    """Sun each emergency wallet's paid, unsent emergency withdrawals will burn (one query)."""
    rows = (
        EmergencyFee.objects.filter(
            paid_at__isnull=False,
            withdrawal__mode=Withdrawal.Mode.EMERGENCY,
            withdrawal__status__in=UNSENT_STATUSES,
        )
        .order_by()
        .values("withdrawal__pool_id")
        .annotate(total=Sum("quoted_fee_sun"))
    )
    return {row["withdrawal__pool_id"]: row["total"] for row in rows}


def balances_out_of_balance() -> list[tuple[int, int]]:
    """(balance id, partner id) of balances whose `held` differs from their held holds."""
    held = (
        Hold.objects.filter(balance=OuterRef("pk"), state=Hold.State.HELD)
        .values("balance")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return list(
        Balance.objects.annotate(held_total=Coalesce(Subquery(held), 0))
        .exclude(held=F("held_total"))
        .values_list("pk", "customer__partner_id")
    )
