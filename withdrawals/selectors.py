"""Reads about withdrawals, customers and balances. Partner scope is applied here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from common.metrics import GaugeSample
from common.tron import SUN_PER_TRX
from partners.models import Customer
from partners.selectors import Caller
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD
from pools.models import AVAILABLE_ENERGY, EnergyPool, SigningKey
from pools.selectors import recent_daily_usage
from pools.services.prices import latest_energy_fee_sun
from withdrawals.models import Balance, QueueEntry, Withdrawal

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
