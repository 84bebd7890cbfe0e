"""Requesting and cancelling withdrawals; the queue of those waiting for pool energy.

A request is idempotent per (partner, Idempotency-Key): the same key and body return the
stored withdrawal, the same key with another body is refused, and a request whose twin is
still being processed is refused as in flight (docs/protocols.md, Idempotency keys).

The queue: one per partner, served by all of the partner's sending pools (active custodial
energy pools whose key the platform holds: `withdrawals.selectors.sending_pools`). A queued
withdrawal has no pool; `queue_allocate` reserves for the partner's queue oldest first
across every sending pool, each withdrawal on the pool it fits most tightly, and stops at
the first one that no pool covers now: a younger withdrawal never takes energy while an
older one waits for it (strictly first come, first served; `pools.services.ledger`
`reservations_fit`). The one exception: an entry needing more than every sending pool's
whole limit could never be served as things stand, so it keeps its place without
blocking anyone behind it (`queue_blocking`; expire_and_audit alerts about it). A new
request goes to the queue's end whenever an entry that blocks is waiting, so it never
jumps ahead; otherwise it reserves on the pool with the most energy free, or queues.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from common.idempotency import IdempotencyInFlight, claim, ensure_same_request, request_hash
from common.logs import request_id_current
from common.tron import USDT_UNIT
from partners.models import Customer
from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD, USDT_TRANSFER_ENERGY_WARM
from pools.chain.errors import ChainRejected
from pools.events import partner_queue_changed, pools_changed, remember_partner
from pools.models import Reservation
from pools.services.ledger import (
    Allocation,
    Placement,
    PoolChanged,
    reservation_reserve,
    reservation_void,
    reservations_fit,
    reservations_place,
)
from withdrawals.events import withdrawal_changed
from withdrawals.models import Currency, QueueEntry, Withdrawal
from withdrawals.selectors import (
    intake_lookup,
    queue_blocking,
    queue_blocking_before,
    sending_room,
)
from withdrawals.services.balances import hold_place, insufficient_funds, withdrawal_holds_release
from withdrawals.services.emergency import emergency_fee_refund
from withdrawals.services.idempotency import CLAIM_SCOPE, withdrawal_for_key
from withdrawals.services.intake import intake_record

logger = logging.getLogger(__name__)

Status = Withdrawal.Status


def _replay(*, partner_id: int, key: str, body_hash: str) -> Withdrawal | None:
    """The withdrawal this key already made (same body), or None; another body: refused."""
    found = withdrawal_for_key(partner_id=partner_id, key=key, body_hash=body_hash)
    return None if found is None else Withdrawal.objects.get(pk=found)


def transfer_energy_estimate(*, pool_address: str, to_address: str, amount: Decimal) -> int:
    """Energy the USDT transfer will cost, from the node's estimate; if the node cannot
    simulate it (the hot wallet's balance would not cover it now), from whether the
    recipient already holds USDT (docs/tron.md, A USDT transfer)."""
    client = chain_client()
    try:
        return client.estimate_usdt_transfer_energy(
            owner=pool_address, to=to_address, amount=int(amount * USDT_UNIT)
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

    Holds the amount, then reserves energy for it on the partner's pool with the most
    energy free, or queues it in the partner's queue: behind anyone of the partner already
    waiting (`queue_blocking`), or when that pool cannot cover it now. All in one
    transaction: on PostgreSQL one statement (`withdrawals.services.intake`), elsewhere
    statement by statement. Raises `ValidationError` (bad input, not enough funds, no
    pool: nothing changes), `IdempotencyMismatch`, `IdempotencyInFlight`, or
    `ChainUnavailable`.
    """
    partner = customer.partner
    body_hash = request_hash(
        {"customer": customer.pk, "to_address": to_address, "amount": str(amount.normalize())}
    )
    # One read before the node is asked: the pool, and what the key already made (a replay
    # asks the node nothing).
    lookup = intake_lookup(partner_id=partner.pk, key=idempotency_key)
    if lookup.replay_id is not None:
        assert lookup.replay_hash is not None
        ensure_same_request(stored_hash=lookup.replay_hash, body_hash=body_hash)
        return Withdrawal.objects.get(pk=lookup.replay_id), False
    if lookup.pool_id is None or lookup.pool_address is None:
        raise ValidationError(
            {"non_field_errors": ["The partner has no active pool that can send withdrawals."]}
        )
    # The chain is asked before any lock or transaction is held (and the chain client
    # gives a pooled database connection back while it waits).
    energy = transfer_energy_estimate(
        pool_address=lookup.pool_address, to_address=to_address, amount=amount
    )
    remember_partner(pool_id=lookup.pool_id, partner_id=partner.pk)  # the ledger's hint needs it
    withdrawal = Withdrawal(
        customer=customer,
        partner=partner,
        pool_id=lookup.pool_id,
        to_address=to_address,
        amount=amount,
        idempotency_key=idempotency_key,
        request_hash=body_hash,
        energy_estimate=energy,
        retry_of=retry_of,
        status=Status.RESERVED,
        request_id=request_id_current(),
    )
    try:
        if connection.vendor == "postgresql":
            created = _record_in_one_statement(withdrawal, pool_id=lookup.pool_id, energy=energy)
        else:
            created = _record_step_by_step(withdrawal, pool_id=lookup.pool_id, energy=energy)
    except IntegrityError:
        # The key's twin committed after this request looked (or, without the advisory
        # lock on SQLite, while it ran): the unique key is the referee.
        if idempotency_key and (
            found := _replay(partner_id=partner.pk, key=idempotency_key, body_hash=body_hash)
        ):
            return found, False
        raise
    return created


def _record_in_one_statement(
    withdrawal: Withdrawal, *, pool_id: int, energy: int
) -> tuple[Withdrawal, bool]:
    outcome = intake_record(
        withdrawal=withdrawal,
        pool_id=pool_id,
        energy=energy,
        ttl=timedelta(seconds=settings.RESERVATION_TTL_SECONDS),
    )
    if not outcome.claimed:
        raise IdempotencyInFlight
    if outcome.replay_id is not None:
        assert outcome.replay_hash is not None
        ensure_same_request(stored_hash=outcome.replay_hash, body_hash=withdrawal.request_hash)
        return Withdrawal.objects.get(pk=outcome.replay_id), False
    if outcome.hold_id is None:
        # The statement read the key's earlier answer in its snapshot, taken before it won
        # the key: a twin that committed in between (and spent the funds) is not in it. A
        # new statement sees it: answer with the twin's withdrawal, never "insufficient
        # funds" for a request that was made (the caller could pay it twice under a new key).
        key = withdrawal.idempotency_key
        if key and (
            twin := _replay(
                partner_id=withdrawal.partner_id, key=key, body_hash=withdrawal.request_hash
            )
        ):
            return twin, False
        raise insufficient_funds(Currency.USDT)
    if outcome.reservation_id is not None:
        assert outcome.queue_mark is not None
        if _queued_before(withdrawal, mark=outcome.queue_mark):
            _step_back_in_line(withdrawal, reservation_id=outcome.reservation_id)
        else:
            pools_changed(pool_ids=[pool_id], reason="reserve")
    else:
        partner_queue_changed(partner_id=withdrawal.partner_id)
    _publish(withdrawal, "withdrawal.requested", new=True)
    return withdrawal, True


def _queued_before(withdrawal: Withdrawal, *, mark: int) -> bool:
    """Whether a request of the partner that its pools could serve was put in the queue
    before this one's reservation (its entry's id below `mark`, `IntakeOutcome.queue_mark`).

    The one statement checks the queue in its snapshot, taken before it waited for the
    balance's or the pool's row lock; an entry committed during that wait is not in it
    (found by review: a younger request of the same customer took the energy an older one
    had just queued for). This new statement sees it: then the younger request must not
    keep the energy the older one waits for. One query, on the reserved path only."""
    return queue_blocking_before(partner_id=withdrawal.partner_id, mark=mark)


def _step_back_in_line(withdrawal: Withdrawal, *, reservation_id: int) -> None:
    """Undo a reservation that jumped the queue: the energy goes back to the pool and the
    withdrawal into the partner's queue at its request time, as `step by step` would have
    put it. A crash between the two leaves a reserved withdrawal without a reservation,
    which `withdrawals_requeue_unreserved` puts in the queue the same way."""
    with transaction.atomic():
        reservation_void(reservation_id=reservation_id)
        _requeue_unreserved(withdrawal)
    withdrawal.status = Status.QUEUED
    withdrawal.pool = None


def _record_step_by_step(
    withdrawal: Withdrawal, *, pool_id: int, energy: int
) -> tuple[Withdrawal, bool]:
    """`_record_in_one_statement`'s writes as separate statements in a transaction (the
    embedded SQLite of `make run`, which has no data-modifying CTEs nor advisory locks)."""
    partner_id = withdrawal.partner_id
    key = withdrawal.idempotency_key
    with transaction.atomic():
        if key:
            claim(scope=CLAIM_SCOPE, owner_id=partner_id, key=key)
            found = _replay(partner_id=partner_id, key=key, body_hash=withdrawal.request_hash)
            if found is not None:
                return found, False
        # The withdrawal, its funds (lock order: balance before pool), then the pool's
        # row last. Inserted as reserved; turned to queued (and off the pool: the queue is
        # the partner's) if the pool cannot cover it.
        withdrawal.save(force_insert=True)
        hold_place(withdrawal=withdrawal, currency=Currency.USDT, amount=withdrawal.amount)
        # Others of the partner already waiting go first: no jumping the queue.
        reservation = (
            None
            if queue_blocking(partner_id=partner_id).exists()
            else reservation_reserve(
                pool_id=pool_id,
                withdrawal_id=withdrawal.pk,
                energy=energy,
                ttl=timedelta(seconds=settings.RESERVATION_TTL_SECONDS),
            )
        )
        if reservation is None:
            QueueEntry.objects.create(
                withdrawal=withdrawal,
                partner_id=partner_id,
                energy_needed=energy,
                enqueued_at=timezone.now(),
            )
            withdrawal.status = Status.QUEUED
            withdrawal.pool = None
            withdrawal.save(update_fields=["status", "pool", "updated_at"])
            partner_queue_changed(partner_id=partner_id)
        _publish(withdrawal, "withdrawal.requested", new=True)
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
        if QueueEntry.objects.filter(withdrawal=locked).delete()[0]:
            partner_queue_changed(partner_id=locked.partner_id)
        for reservation_id in Reservation.objects.filter(
            withdrawal=locked, state=Reservation.State.PENDING
        ).values_list("pk", flat=True):
            reservation_void(reservation_id=reservation_id)
        locked.status = Status.CANCELLED
        locked.save(update_fields=["status", "updated_at"])
        _publish(locked, "withdrawal.cancelled")
    return locked


ALLOCATE_ATTEMPTS = 3


def _adopt_orphans(partner_id: int) -> int:
    """Queued withdrawals of the partner that already hold a pending reservation (left by
    an allocation of an earlier release, committed apart from the move, or by a direct
    `reservations_allocate`): move them to reserved on their reservation's pool. One query
    when there are none."""
    pending = Reservation.objects.filter(withdrawal=OuterRef("pk"), state=Reservation.State.PENDING)
    orphans = Withdrawal.objects.filter(
        Exists(pending), partner_id=partner_id, status=Status.QUEUED
    )
    if not orphans.exists():
        return 0
    with transaction.atomic():
        found = list(
            orphans.select_for_update(of=("self",))
            .order_by("pk")
            .annotate(reserved_on=Subquery(pending.values("pool_id")[:1]))
            .values_list("pk", "reserved_on")
        )
        _move_to_reserved(
            partner_id, [(withdrawal_id, pool_id) for withdrawal_id, pool_id in found]
        )
    return len(found)


def _move_to_reserved(partner_id: int, moves: list[tuple[int, int]]) -> None:
    """Inside the caller's transaction, with the withdrawals locked and still queued: each
    `(withdrawal, pool)` to reserved on that pool, out of the queue; its watchers told on
    commit. One UPDATE per pool and one DELETE, whatever the number of withdrawals."""
    by_pool: dict[int, list[int]] = {}
    for withdrawal_id, pool_id in moves:
        by_pool.setdefault(pool_id, []).append(withdrawal_id)
    now = timezone.now()
    for pool_id in sorted(by_pool):
        Withdrawal.objects.filter(pk__in=by_pool[pool_id]).update(
            status=Status.RESERVED, pool_id=pool_id, updated_at=now
        )
    QueueEntry.objects.filter(withdrawal_id__in=[w for w, _ in moves]).delete()
    for withdrawal_id, _ in moves:
        withdrawal_changed(
            withdrawal_id=withdrawal_id,
            partner_id=partner_id,
            status=Status.RESERVED,
            event="withdrawal.reserved",
        )


class _Gone(Exception):
    """Withdrawals fitted from the queue were cancelled (or moved) before they were locked."""

    def __init__(self, withdrawal_ids: set[int]) -> None:
        super().__init__(sorted(withdrawal_ids))
        self.withdrawal_ids = withdrawal_ids


def _allocate_partner(partner_id: int, *, batch_size: int, ttl: timedelta) -> int:
    """Serve the head of one partner's queue from all of its sending pools; returns how
    many withdrawals moved to reserved.

    Read the pools and up to `batch_size` entries that block (oldest first), fit them
    (`reservations_fit`), then one transaction: lock the fitted withdrawals still queued
    (ascending id), move them to reserved on their pools, delete their queue entries,
    insert their reservations and charge each pool with one conditional UPDATE (ascending
    id). All or nothing, so a process killed anywhere leaves the queue as it was or fully
    served. A withdrawal cancelled after the read is left out and the rest fitted again; a
    pool that changed after the read rolls everything back and fitting starts again from
    fresh numbers (up to ALLOCATE_ATTEMPTS times, then the next run goes on).
    """
    moved = _adopt_orphans(partner_id)
    pending = Reservation.objects.filter(
        withdrawal=OuterRef("withdrawal_id"), state=Reservation.State.PENDING
    )
    head: list[tuple[int, int]] | None = None
    for _ in range(ALLOCATE_ATTEMPTS):
        room = sending_room(partner_id=partner_id)
        if not room.free:
            break
        if head is None:
            head = list(
                QueueEntry.objects.filter(
                    partner_id=partner_id, energy_needed__lte=room.largest_limit
                )
                .exclude(Exists(pending))
                .order_by("enqueued_at", "pk")
                .values_list("withdrawal_id", "energy_needed")[:batch_size]
            )
        placements = reservations_fit(room=room.free, requests=head)
        if not placements:
            break
        try:
            with transaction.atomic():
                allocations = _place(partner_id, placements, ttl=ttl)
            return moved + len(allocations)
        except _Gone as gone:
            head = [request for request in head if request[0] not in gone.withdrawal_ids]
        except PoolChanged:
            continue
    return moved


def _place(partner_id: int, placements: list[Placement], *, ttl: timedelta) -> list[Allocation]:
    """The writing half of `_allocate_partner`, inside its transaction. Lock order as
    everywhere: the withdrawals, then their reservations, then the pools."""
    wanted = [p.withdrawal_id for p in placements]
    locked = set(
        Withdrawal.objects.select_for_update()
        .filter(pk__in=wanted, status=Status.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if len(locked) < len(wanted):
        raise _Gone(set(wanted) - locked)
    _move_to_reserved(partner_id, [(p.withdrawal_id, p.pool_id) for p in placements])
    return reservations_place(placements=placements, ttl=ttl)


def queue_allocate(*, batch_size: int = 200) -> int:
    """The `allocate_queue` job: reserve energy for queued withdrawals, each partner's queue
    oldest first across all of the partner's sending pools (see the module's docstring).

    Per partner, one read of its pools, one of its queue's head, and one transaction whose
    statements grow with the pools it fills, never with the withdrawals. One partner's
    failure is logged and does not stop the others. Returns withdrawals moved to reserved.
    """
    moved = 0
    ttl = timedelta(seconds=settings.RESERVATION_TTL_SECONDS)
    # order_by(): the model's ordering would join the DISTINCT and repeat each partner.
    partners = QueueEntry.objects.order_by().values_list("partner_id", flat=True).distinct()
    for partner_id in sorted(partners):
        try:
            moved += _allocate_partner(partner_id, batch_size=batch_size, ttl=ttl)
        except Exception:
            logger.exception("allocate_queue: partner %s failed", partner_id)
    return moved


def withdrawals_requeue_unreserved() -> int:
    """Put back in the partner's queue reserved withdrawals whose reservation expired before
    anything was signed, at their original place (their request time), off their pool
    (allocation picks one again). Returns how many."""
    pending = Reservation.objects.filter(withdrawal=OuterRef("pk"), state=Reservation.State.PENDING)
    # Emergency withdrawals reserve nothing: only standard ones can be stranded.
    stranded = Withdrawal.objects.filter(
        status=Status.RESERVED, mode=Withdrawal.Mode.STANDARD
    ).exclude(Exists(pending))
    moved = 0
    for withdrawal in stranded.only("pk", "partner_id", "pool_id", "energy_estimate", "created_at"):
        with transaction.atomic():
            moved += _requeue_unreserved(withdrawal)
    return moved


def _requeue_unreserved(withdrawal: Withdrawal) -> bool:
    """A reserved withdrawal without a pending reservation (nothing signed) put in its
    partner's queue at its request time, off its pool. False if it is not in that state
    (any more). Call inside a transaction."""
    pending = Reservation.objects.filter(withdrawal=OuterRef("pk"), state=Reservation.State.PENDING)
    if (
        not Withdrawal.objects.filter(pk=withdrawal.pk, status=Status.RESERVED)
        .exclude(Exists(pending))
        .update(status=Status.QUEUED, pool=None, updated_at=timezone.now())
    ):
        return False
    assert withdrawal.energy_estimate is not None
    QueueEntry.objects.get_or_create(
        withdrawal_id=withdrawal.pk,
        defaults={
            "partner_id": withdrawal.partner_id,
            "energy_needed": withdrawal.energy_estimate,
            "enqueued_at": withdrawal.created_at,
        },
    )
    partner_queue_changed(partner_id=withdrawal.partner_id)
    return True


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
