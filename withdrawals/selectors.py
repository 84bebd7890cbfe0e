"""Reads about withdrawals, customers and balances. Partner scope is applied here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from common.metrics import GaugeSample
from common.tron import SUN_PER_TRX
from partners.models import Customer
from partners.selectors import Caller
from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD
from pools.chain.errors import ChainError
from pools.models import (
    AVAILABLE_ENERGY,
    EnergyPool,
    EnergyUsageLog,
    PriceQuote,
    Reservation,
    SigningKey,
)
from pools.selectors import recent_daily_usage
from pools.services.prices import CHAIN_SOURCE, latest_energy_fee_sun
from withdrawals.models import Attempt, Balance, EmergencyFee, QueueEntry, Withdrawal

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


def customer_get_for_partner(*, caller: Caller, customer_id: int) -> Customer:
    try:
        return Customer.objects.select_related("partner").get(
            pk=customer_id, partner_id=caller.partner.pk
        )
    except Customer.DoesNotExist:
        raise Http404 from None


def balances_for_customer(*, customer: Customer) -> QuerySet[Balance]:
    return Balance.objects.filter(customer=customer).order_by("currency")


def withdrawal_status_summary() -> dict[str, object]:
    """Withdrawals by status (for the status endpoint)."""
    return {
        "by_status": dict(
            Withdrawal.objects.values_list("status").annotate(n=Count("id")).order_by("status")
        )
    }


def pool_for_next_withdrawal(*, partner_id: int) -> EnergyPool | None:
    """The partner's active custodial pool with the most energy free now, among those the
    platform holds a key for (a withdrawal on a pool it cannot sign for would only wait)."""
    return (
        EnergyPool.objects.filter(
            Exists(SigningKey.objects.filter(address=OuterRef("address"))),
            partner_id=partner_id,
            status=EnergyPool.Status.ACTIVE,
            custody=EnergyPool.Custody.CUSTODIAL,
            role=EnergyPool.Role.ENERGY,
        )
        .annotate(free=AVAILABLE_ENERGY)
        .order_by("-free", "pk")
        .first()
    )


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
    """The partner's pool that would serve the next withdrawal, as a user sees it.

    Sufficient means a transfer to a new USDT holder (the dearer case) fits now and nobody
    is queued ahead. Otherwise the wait is the queue's energy plus this transfer, less what
    is free, at the pool's regeneration rate; the emergency fee is that energy burned at
    the last recorded energy price plus a transfer's bandwidth.
    """
    pool = pool_for_next_withdrawal(partner_id=partner_id)
    fee_per_energy = latest_energy_fee_sun()
    emergency_fee = (
        Decimal(
            USDT_TRANSFER_ENERGY_COLD * fee_per_energy + USDT_TRANSFER_BANDWIDTH * BANDWIDTH_FEE_SUN
        )
        / SUN_PER_TRX
    )
    if pool is None:
        return EnergyStatus(
            0,
            0,
            False,
            0,
            0,
            emergency_fee,
            "No pool can send withdrawals now: pay the network fee to go now.",
        )
    queued = QueueEntry.objects.filter(pool=pool).aggregate(
        count=Count("pk"), energy=Coalesce(Sum("energy_needed"), 0)
    )
    daily = int(recent_daily_usage(pool_ids=[pool.pk]).get(pool.pk, 0))
    available = pool.available_energy
    sufficient = queued["count"] == 0 and available >= USDT_TRANSFER_ENERGY_COLD
    if sufficient:
        return EnergyStatus(available, daily, True, 0, 0, emergency_fee, None)
    shortfall = max(0, queued["energy"] + USDT_TRANSFER_ENERGY_COLD - available)
    per_minute = pool.energy_limit / (24 * 60)
    wait = math.ceil(shortfall / per_minute) if per_minute > 0 else -1
    position = queued["count"] + 1
    waiting = f"about {wait} minutes" if wait >= 0 else "until the pool is refilled"
    message = (
        f"Network busy: wait ({waiting}, position {position}) "
        f"or pay about {emergency_fee:.2f} TRX and go now."
    )
    return EnergyStatus(available, daily, False, wait, position, emergency_fee, message)


@dataclass(frozen=True)
class QueuePlace:
    """Where a queued withdrawal stands: derived from the queue and the pool, never stored."""

    position: int
    energy_ahead: int
    wait_seconds: int


def queue_place(*, withdrawal: Withdrawal) -> QueuePlace | None:
    """Position (1 = next), energy needed up to and including this one, and the wait until
    the pool has regrown it at its regeneration rate (limit per 24 h). None if not queued."""
    entry = QueueEntry.objects.select_related("pool").filter(withdrawal=withdrawal).first()
    if entry is None:
        return None
    ahead = QueueEntry.objects.filter(pool_id=entry.pool_id).filter(
        Q(enqueued_at__lt=entry.enqueued_at) | Q(enqueued_at=entry.enqueued_at, pk__lt=entry.pk)
    )
    totals = ahead.aggregate(count=Count("pk"), energy=Sum("energy_needed"))
    position = totals["count"] + 1
    energy_ahead = (totals["energy"] or 0) + entry.energy_needed
    pool = entry.pool
    shortfall = max(0, energy_ahead - pool.available_energy)
    per_second = pool.energy_limit / 86_400
    wait = int(shortfall / per_second) if per_second > 0 else -1
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
    """An emergency withdrawal's quote (None for a standard withdrawal)."""
    return EmergencyFee.objects.filter(withdrawal=withdrawal).first()


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


def energy_fee_sun_at(at: datetime) -> int:
    """The chain's energy price as last recorded at or before `at` (or the default)."""
    fee = (
        PriceQuote.objects.filter(
            source=CHAIN_SOURCE, kind=PriceQuote.Kind.ENERGY_FEE, quoted_at__lte=at
        )
        .order_by("-quoted_at")
        .values_list("price_sun", flat=True)
        .first()
    )
    return int(fee) if fee is not None else settings.DEFAULT_ENERGY_FEE_SUN


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
            .values_list("energy_used", "at")
            .first()
        )
        if log is None:
            return None, False
        return log[0] * energy_fee_sun_at(log[1]), False
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
