"""Requesting and cancelling withdrawals; the queue of those waiting for pool energy.

A request is idempotent per (partner, Idempotency-Key): the same key and body return the
stored withdrawal, the same key with another body is refused, and a request whose twin is
still being processed is refused as in flight (SPEC §6.3; reference/reliability.md §2.1).
"""

from __future__ import annotations

import logging
import zlib
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from partners.models import Customer, Partner
from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD, USDT_TRANSFER_ENERGY_WARM
from pools.chain.errors import ChainRejected
from pools.events import pool_changed, pools_changed, remember_partner
from pools.models import EnergyPool, Reservation
from pools.services.ledger import reservation_reserve, reservation_void, reservations_allocate
from withdrawals.events import withdrawal_changed
from withdrawals.models import Currency, QueueEntry, Withdrawal
from withdrawals.selectors import pool_for_next_withdrawal
from withdrawals.services.balances import hold_place, withdrawal_holds_release
from withdrawals.services.emergency import emergency_fee_refund
from withdrawals.services.idempotency import (
    IdempotencyInFlight,
    request_hash,
    withdrawal_for_key,
)

logger = logging.getLogger(__name__)

USDT_UNIT = Decimal(1_000_000)
Status = Withdrawal.Status


def _claim_key(*, partner_id: int, key: str) -> None:
    """Take the (partner, key) advisory lock for the rest of this transaction, or fail fast
    with `IdempotencyInFlight` when a twin request holds it. Transaction-scoped, so it is
    released by commit or rollback even behind a transaction-mode connection pooler. (On
    SQLite the unique constraint alone stops duplicates.)"""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)",
            (partner_id, zlib.crc32(key.encode()) - 2**31),
        )
        row = cursor.fetchone()
    if not row or not row[0]:
        raise IdempotencyInFlight(key)


def _replay(*, partner: Partner, key: str, body_hash: str) -> Withdrawal | None:
    """The withdrawal this key already made (same body), or None; another body: refused."""
    found = withdrawal_for_key(partner_id=partner.pk, key=key, body_hash=body_hash)
    return None if found is None else Withdrawal.objects.get(pk=found)


def pool_for_withdrawal(*, partner: Partner) -> EnergyPool:
    """The pool for a new withdrawal, or a field error when the partner has none."""
    pool = pool_for_next_withdrawal(partner_id=partner.pk)
    if pool is None:
        raise ValidationError(
            {"non_field_errors": ["The partner has no active pool that can send withdrawals."]}
        )
    return pool


def transfer_energy_estimate(*, pool: EnergyPool, to_address: str, amount: Decimal) -> int:
    """Energy the USDT transfer will cost, from the node's estimate; if the node cannot
    simulate it (the hot wallet's balance would not cover it now), from whether the
    recipient already holds USDT (reference/tron.md §1.5)."""
    client = chain_client()
    try:
        return client.estimate_usdt_transfer_energy(
            owner=pool.address, to=to_address, amount=int(amount * USDT_UNIT)
        )
    except ChainRejected:
        holder = client.usdt_balance(to_address) > 0
        return USDT_TRANSFER_ENERGY_WARM if holder else USDT_TRANSFER_ENERGY_COLD


def _publish(withdrawal: Withdrawal, event: str, *, new: bool = False) -> None:
    withdrawal_changed(
        withdrawal_id=withdrawal.pk,
        partner_id=withdrawal.partner_id,
        status=withdrawal.status,
        event=event,
        new=new,
    )


def withdrawal_request(
    *,
    customer: Customer,
    to_address: str,
    amount: Decimal,
    idempotency_key: str | None = None,
    retry_of: Withdrawal | None = None,
) -> tuple[Withdrawal, bool]:
    """Request a USDT withdrawal for `customer`; returns (withdrawal, created now).

    Holds the amount, then reserves pool energy for it, or queues it when the pool cannot
    cover it now. Raises `ValidationError` (bad input, not enough funds, no pool: nothing
    changes), `IdempotencyMismatch`, `IdempotencyInFlight`, or `ChainUnavailable`.
    """
    partner = customer.partner
    body_hash = request_hash(
        {"customer": customer.pk, "to_address": to_address, "amount": str(amount.normalize())}
    )
    if idempotency_key and (
        found := _replay(partner=partner, key=idempotency_key, body_hash=body_hash)
    ):
        return found, False
    # The chain is asked before any lock or transaction is held (and the chain client
    # gives a pooled database connection back while it waits).
    pool = pool_for_withdrawal(partner=partner)
    energy = transfer_energy_estimate(pool=pool, to_address=to_address, amount=amount)
    remember_partner(pool_id=pool.pk, partner_id=pool.partner_id)  # the ledger's hint needs it
    try:
        with transaction.atomic():
            if idempotency_key:
                _claim_key(partner_id=partner.pk, key=idempotency_key)
                found = _replay(partner=partner, key=idempotency_key, body_hash=body_hash)
                if found is not None:
                    return found, False
            # The withdrawal, its funds (lock order: balance before pool), then the pool's
            # row last, so only the reservation's insert and the commit wait behind that
            # hot lock. Inserted as reserved; turned to queued if the pool cannot cover it.
            withdrawal = Withdrawal.objects.create(
                customer=customer,
                partner=partner,
                pool=pool,
                to_address=to_address,
                amount=amount,
                idempotency_key=idempotency_key,
                request_hash=body_hash,
                energy_estimate=energy,
                retry_of=retry_of,
                status=Status.RESERVED,
            )
            hold_place(withdrawal=withdrawal, currency=Currency.USDT, amount=amount)
            # Others already waiting on this pool go first: no jumping the queue.
            reservation = (
                None
                if QueueEntry.objects.filter(pool=pool).exists()
                else reservation_reserve(
                    pool_id=pool.pk,
                    withdrawal_id=withdrawal.pk,
                    energy=energy,
                    ttl=timedelta(seconds=settings.RESERVATION_TTL_SECONDS),
                )
            )
            if reservation is None:
                QueueEntry.objects.create(
                    withdrawal=withdrawal,
                    pool=pool,
                    energy_needed=energy,
                    enqueued_at=timezone.now(),
                )
                withdrawal.status = Status.QUEUED
                withdrawal.save(update_fields=["status", "updated_at"])
                pool_changed(pool=pool, reason="queue")
            _publish(withdrawal, "withdrawal.requested", new=True)
    except IntegrityError:
        # Without the advisory lock (SQLite) the unique key is the referee.
        if idempotency_key and (
            found := _replay(partner=partner, key=idempotency_key, body_hash=body_hash)
        ):
            return found, False
        raise
    return withdrawal, True


def withdrawal_cancel(*, withdrawal: Withdrawal) -> Withdrawal:
    """Cancel a withdrawal that nothing has been signed for; release its energy and funds.

    Idempotent for an already cancelled withdrawal. Raises `ValidationError` once a
    transaction exists: it may already be on chain, and it will be completed.
    """
    with transaction.atomic():
        locked = Withdrawal.objects.select_for_update().get(pk=withdrawal.pk)
        if locked.status == Status.CANCELLED:
            return locked
        if locked.status not in (Status.REQUESTED, Status.QUEUED, Status.RESERVED):
            raise ValidationError(
                {"status": [f"A {locked.status} withdrawal cannot be cancelled."]}
            )
        # Lock order: the balance (holds) before the pool (reservation).
        withdrawal_holds_release(withdrawal_id=locked.pk)
        emergency_fee_refund(withdrawal=locked)  # a fee paid on chain comes back too
        if QueueEntry.objects.filter(withdrawal=locked).delete()[0] and locked.pool_id:
            pools_changed(pool_ids=[locked.pool_id], reason="queue")
        for reservation_id in Reservation.objects.filter(
            withdrawal=locked, state=Reservation.State.PENDING
        ).values_list("pk", flat=True):
            reservation_void(reservation_id=reservation_id)
        locked.status = Status.CANCELLED
        locked.save(update_fields=["status", "updated_at"])
        _publish(locked, "withdrawal.cancelled")
    return locked


def _adopt_orphans(pool_id: int) -> int:
    """Queued withdrawals that already hold a pending reservation (an allocation committed
    before a crash stopped it moving them on): move them to reserved now."""
    adopted = 0
    pending = Reservation.objects.filter(withdrawal=OuterRef("pk"), state=Reservation.State.PENDING)
    for withdrawal_id in Withdrawal.objects.filter(
        Exists(pending), pool_id=pool_id, status=Status.QUEUED
    ).values_list("pk", flat=True):
        adopted += _move_to_reserved(withdrawal_id)
    return adopted


def _move_to_reserved(withdrawal_id: int) -> int:
    with transaction.atomic():
        if not Withdrawal.objects.filter(pk=withdrawal_id, status=Status.QUEUED).update(
            status=Status.RESERVED, updated_at=timezone.now()
        ):
            return 0
        QueueEntry.objects.filter(withdrawal_id=withdrawal_id).delete()
        _publish(Withdrawal.objects.get(pk=withdrawal_id), "withdrawal.reserved")
    return 1


def queue_allocate(*, batch_size: int = 200) -> int:
    """The `allocate_queue` job: reserve energy for queued withdrawals, oldest first per pool.

    Each pool's head of the queue is allocated in one batch. A withdrawal cancelled between
    the read and the reservation gets its reservation voided at once; one left queued with a
    reservation (a crash between the two steps) is adopted on the next run. One pool's
    failure is logged and does not stop the others. Returns withdrawals moved to reserved.
    """
    moved = 0
    ttl = timedelta(seconds=settings.RESERVATION_TTL_SECONDS)
    pending = Reservation.objects.filter(
        withdrawal=OuterRef("withdrawal_id"), state=Reservation.State.PENDING
    )
    # order_by(): the model's ordering would join the DISTINCT and repeat each pool.
    for pool_id in QueueEntry.objects.order_by().values_list("pool_id", flat=True).distinct():
        try:
            moved += _adopt_orphans(pool_id)
            head = list(
                QueueEntry.objects.filter(pool_id=pool_id)
                .exclude(Exists(pending))
                .order_by("enqueued_at", "pk")
                .values_list("withdrawal_id", "energy_needed")[:batch_size]
            )
            for allocation in reservations_allocate(pool_id=pool_id, requests=head, ttl=ttl):
                if _move_to_reserved(allocation.withdrawal_id):
                    moved += 1
                else:  # cancelled meanwhile
                    reservation_void(reservation_id=allocation.reservation_id)
        except Exception:
            logger.exception("allocate_queue: pool %s failed", pool_id)
    return moved


def withdrawals_requeue_unreserved() -> int:
    """Put back in the queue reserved withdrawals whose reservation expired before anything
    was signed, at their original place (their request time). Returns how many."""
    pending = Reservation.objects.filter(withdrawal=OuterRef("pk"), state=Reservation.State.PENDING)
    # Emergency withdrawals reserve nothing: only standard ones can be stranded.
    stranded = Withdrawal.objects.filter(
        status=Status.RESERVED, mode=Withdrawal.Mode.STANDARD
    ).exclude(Exists(pending))
    moved = 0
    for withdrawal in stranded.only("pk", "pool_id", "energy_estimate", "created_at"):
        with transaction.atomic():
            if (
                not Withdrawal.objects.filter(pk=withdrawal.pk, status=Status.RESERVED)
                .exclude(Exists(pending))
                .update(status=Status.QUEUED, updated_at=timezone.now())
            ):
                continue
            assert withdrawal.pool_id is not None
            assert withdrawal.energy_estimate is not None
            QueueEntry.objects.get_or_create(
                withdrawal_id=withdrawal.pk,
                defaults={
                    "pool_id": withdrawal.pool_id,
                    "energy_needed": withdrawal.energy_estimate,
                    "enqueued_at": withdrawal.created_at,
                },
            )
            pools_changed(pool_ids=[withdrawal.pool_id], reason="queue")
            moved += 1
    return moved


def withdrawal_retry(*, withdrawal: Withdrawal) -> Withdrawal:
    """An operator's retry of a failed standard withdrawal: a new withdrawal for the same
    customer, recipient and amount (funds held again, energy reserved or queued), linked to
    the failed one. A failed withdrawal is retried at most once (the link is unique).

    Raises `ValidationError` if it did not fail, was already retried, or is an emergency
    one (its fee must be quoted and paid again).
    """
    if withdrawal.status != Status.FAILED:
        raise ValidationError({"status": [f"A {withdrawal.status} withdrawal is not retried."]})
    if withdrawal.mode != Withdrawal.Mode.STANDARD:
        raise ValidationError({"mode": ["An emergency withdrawal needs a new quote."]})
    if Withdrawal.objects.filter(retry_of=withdrawal).exists():
        raise ValidationError({"status": ["This withdrawal was already retried."]})
    try:
        retried, _ = withdrawal_request(
            customer=withdrawal.customer,
            to_address=withdrawal.to_address,
            amount=withdrawal.amount,
            retry_of=withdrawal,
        )
    except IntegrityError:
        raise ValidationError({"status": ["This withdrawal was already retried."]}) from None
    return retried
