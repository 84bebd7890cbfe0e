"""Reads about withdrawals, customers and balances. Partner scope is applied here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404

from common.tron import SUN_PER_TRX
from partners.models import Customer
from partners.selectors import Caller
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD
from pools.models import AVAILABLE_ENERGY, EnergyPool, SigningKey
from pools.selectors import recent_daily_usage
from pools.services.prices import latest_energy_fee_sun
from withdrawals.models import Balance, QueueEntry, Withdrawal

# A USDT transfer's bandwidth and its burn price (reference/tron.md §1.5, §1.6).
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


def pool_for_next_withdrawal(*, partner_id: int) -> EnergyPool | None:
    """The partner's sending pool with the most energy free now (a new request reserves
    there when nobody of the partner is queued)."""
    return (
        sending_pools(partner_id=partner_id)
        .annotate(free=AVAILABLE_ENERGY)
        .order_by("-free", "pk")
        .first()
    )


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
    heads = (
        stuck.annotate(largest_limit=Subquery(largest))
        .order_by("partner_id", "enqueued_at", "pk")
        .distinct("partner_id")
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


def withdrawal_progress(*, customer: Customer, withdrawal_id: int) -> dict[str, object] | None:
    """What the customer's status page shows, from real state; None if not theirs."""
    withdrawal = Withdrawal.objects.filter(pk=withdrawal_id, customer=customer).first()
    if withdrawal is None:
        return None
    attempt = withdrawal.attempts.order_by("-pk").first()
    place = queue_place(withdrawal=withdrawal) if withdrawal.status == "queued" else None
    return {
        "id": withdrawal.pk,
        "status": withdrawal.status,
        "status_display": str(withdrawal.get_status_display()),
        "amount": str(withdrawal.amount),
        "to_address": withdrawal.to_address,
        "queue_position": place.position if place else None,
        "wait_minutes": (place.wait_seconds + 59) // 60
        if place and place.wait_seconds >= 0
        else None,
        "txid": attempt.txid if attempt else None,
        "block_number": attempt.block_number if attempt else None,
        "energy_used": withdrawal.energy_used,
        "trx_burned_sun": withdrawal.trx_burned_sun,
        "failure_reason": withdrawal.failure_reason,
        "final": withdrawal.status in Withdrawal.FINAL_STATUSES,
        "updated_at": withdrawal.updated_at.isoformat(),
    }


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
