"""The reservation ledger (docs/protocols.md, Reservation ledger).

Energy is promised to a withdrawal before anything is signed, TigerBeetle-style:

- reserve: one conditional UPDATE moves energy into the pool's `reserved_energy` only if
  `energy_limit - energy_used - reserved_energy` covers it, and the `Reservation` row is
  inserted in the same transaction; the row count decides;
- allocate: queued withdrawals fitted oldest first over one or several pools
  (`reservations_fit`: strictly first come, first served, each to the pool it fits most
  tightly), then written in one transaction (`reservations_place`): every reservation in
  one INSERT, then one conditional UPDATE per pool; a pool that changed meanwhile rolls
  the whole batch back to be fitted again;
- post: the receipt's real energy is charged and the whole estimate released;
- void: the estimate is released;
- expire: unsigned reservations past `expires_at` (database time) are voided.

A reservation is resolved at most once: every resolution is guarded by `state = pending`
under the reservation's row lock. Lock order, everywhere: a withdrawal, then a customer's
balance, then a reservation, then its pool; several pools in ascending id (as the sync's
`SELECT … FOR UPDATE` over one partner's pools and `expire` do). `reserve` locks only its
pool; `place` locks the pools it fills, in ascending id, after the caller has locked the
withdrawals (withdrawals/services/requests.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from pools.events import pools_changed
from pools.models import EnergyPool, Reservation

PENDING = Reservation.State.PENDING


def _pool_covers(energy: int) -> dict[str, object]:
    return {"reserved_energy__lte": F("energy_limit") - F("energy_used") - energy}


def reservation_reserve(
    *, pool_id: int, withdrawal_id: int, energy: int, ttl: timedelta
) -> Reservation | None:
    """Reserve `energy` on an active pool for a withdrawal, or None if it does not fit.

    The reservation expires after `ttl` unless it is marked signed first.
    """
    if energy <= 0:
        raise ValueError("a reservation needs a positive energy estimate")
    # No savepoint inside a caller's transaction: if the insert fails, so does the caller.
    with transaction.atomic(savepoint=False):
        taken = EnergyPool.objects.filter(
            pk=pool_id, status=EnergyPool.Status.ACTIVE, **_pool_covers(energy)
        ).update(reserved_energy=F("reserved_energy") + energy)
        if not taken:
            return None
        pools_changed(pool_ids=[pool_id], reason="reserve")
        return Reservation.objects.create(
            pool_id=pool_id,
            withdrawal_id=withdrawal_id,
            estimated_energy=energy,
            expires_at=timezone.now() + ttl,
        )


@dataclass(frozen=True, slots=True)
class Allocation:
    reservation_id: int
    withdrawal_id: int
    energy: int
    pool_id: int


@dataclass(frozen=True, slots=True)
class Placement:
    """A queued withdrawal fitted to a pool, not yet written."""

    withdrawal_id: int
    energy: int
    pool_id: int


class PoolChanged(Exception):
    """A pool no longer covers what was fitted to it from the numbers read: the caller's
    transaction must roll back and fit again from fresh numbers."""


def pools_room(*, pool_ids: Sequence[int]) -> dict[int, int]:
    """Energy each of the active pools among `pool_ids` may still promise (one query)."""
    rows = EnergyPool.objects.filter(pk__in=pool_ids, status=EnergyPool.Status.ACTIVE).values_list(
        "pk", "energy_limit", "energy_used", "reserved_energy"
    )
    return {pk: limit - used - reserved for pk, limit, used, reserved in rows}


def reservations_fit(
    *, room: Mapping[int, int], requests: Sequence[tuple[int, int]]
) -> list[Placement]:
    """Fit the queued `(withdrawal_id, energy)` requests, oldest first, to pools with
    `room` (energy free per pool id); pure, nothing is read or written.

    Strictly first come, first served across all the pools: each request goes to the pool
    that covers it with the least energy to spare (the pools with the most free energy stay
    whole for the dearer transfers behind it; ties: the lowest id), and fitting stops at
    the first request that no pool covers now — a younger request never takes energy
    before an older one that is waiting for it. (A request larger than every pool's whole
    limit would stop the queue for good: callers leave such requests out; see
    withdrawals/services/requests.py.)
    """
    free = dict(room)
    placed: list[Placement] = []
    for withdrawal_id, energy in requests:
        if energy <= 0:
            raise ValueError("a reservation needs a positive energy estimate")
        fits = [(left, pool_id) for pool_id, left in free.items() if left >= energy]
        if not fits:
            break
        _, pool_id = min(fits)
        free[pool_id] -= energy
        placed.append(Placement(withdrawal_id=withdrawal_id, energy=energy, pool_id=pool_id))
    return placed


def _insert_pending(*, placements: Sequence[Placement], expires_at: datetime) -> list[int]:
    """Insert pending reservations for `placements`; their ids, in order."""
    now = timezone.now()
    if connection.vendor != "postgresql":
        rows = Reservation.objects.bulk_create(
            Reservation(
                pool_id=p.pool_id,
                withdrawal_id=p.withdrawal_id,
                estimated_energy=p.energy,
                expires_at=expires_at,
            )
            for p in placements
        )
        return [row.pk for row in rows]
    # One statement whatever the batch: three arrays, unnested in order; RETURNING follows
    # the ORDER BY of a single-source INSERT … SELECT.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO pools_reservation "
            "(pool_id, withdrawal_id, estimated_energy, state, expires_at, created_at, updated_at)"
            " SELECT v.p, v.w, v.e, %s, %s, %s, %s"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[])"
            " WITH ORDINALITY AS v (p, w, e, ord)"
            " ORDER BY v.ord RETURNING id",
            [
                PENDING,
                expires_at,
                now,
                now,
                [p.pool_id for p in placements],
                [p.withdrawal_id for p in placements],
                [p.energy for p in placements],
            ],
        )
        return [row[0] for row in cursor.fetchall()]


def reservations_place(*, placements: Sequence[Placement], ttl: timedelta) -> list[Allocation]:
    """Write fitted placements inside the caller's transaction: every reservation in one
    INSERT, then one conditional UPDATE per pool, in ascending pool id (the order every
    multi-pool writer here keeps, so two of them never deadlock).

    Each pool's row is locked only by its UPDATE, so it is held from there to the caller's
    commit. Raises `PoolChanged` when a pool no longer covers its share (another writer
    took energy since the numbers were read, or the pool is no longer active): the caller
    lets it roll its transaction back and fits again. Callers lock the withdrawals before
    calling (lock order: a withdrawal, its reservation, then the pool).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("reservations_place runs inside the caller's transaction")
    if not placements:
        return []
    totals: dict[int, int] = defaultdict(int)
    for placement in placements:
        if placement.energy <= 0:
            raise ValueError("a reservation needs a positive energy estimate")
        totals[placement.pool_id] += placement.energy
    ids = _insert_pending(placements=placements, expires_at=timezone.now() + ttl)
    for pool_id in sorted(totals):
        if not EnergyPool.objects.filter(
            pk=pool_id, status=EnergyPool.Status.ACTIVE, **_pool_covers(totals[pool_id])
        ).update(reserved_energy=F("reserved_energy") + totals[pool_id]):
            raise PoolChanged(pool_id)
    pools_changed(pool_ids=sorted(totals), reason="reserve")  # sent only if it commits
    return [
        Allocation(
            reservation_id=rid, withdrawal_id=p.withdrawal_id, energy=p.energy, pool_id=p.pool_id
        )
        for rid, p in zip(ids, placements, strict=True)
    ]


def reservations_allocate(
    *,
    pool_id: int,
    requests: Sequence[tuple[int, int]],
    ttl: timedelta,
    attempts: int = 3,
) -> list[Allocation]:
    """Reserve for the queued `(withdrawal_id, energy)` requests on one pool, in order,
    while they fit.

    One transaction for the whole batch, and the pool row is locked only by its final
    conditional UPDATE, so the lock is held for one statement and a commit whatever the
    batch size: throughput is not bound by one lock per withdrawal. The reservations are
    inserted first; if the UPDATE finds the pool changed meanwhile, the transaction rolls
    back and the batch is fitted again from fresh numbers (up to `attempts` times, then
    nothing is reserved and the caller tries on its next round).

    Strictly first come, first served: allocation stops at the first request that does not
    fit (a smaller one behind it waits its turn). The queue of withdrawals allocates over
    all of a partner's pools at once with `reservations_fit` and `reservations_place`.
    """
    if any(energy <= 0 for _, energy in requests):
        raise ValueError("a reservation needs a positive energy estimate")
    for _ in range(attempts):
        placements = reservations_fit(room=pools_room(pool_ids=[pool_id]), requests=requests)
        if not placements:
            return []
        try:
            with transaction.atomic():
                return reservations_place(placements=placements, ttl=ttl)
        except PoolChanged:
            continue
    return []


def reservation_mark_signed(*, reservation_id: int) -> bool:
    """Stop the clock: a reservation whose transaction is signed never expires.

    False if it is no longer pending (expired or voided meanwhile): then nothing may be
    signed against it.
    """
    not_expired = Q(expires_at__isnull=True) | Q(expires_at__gt=Now())
    return (
        Reservation.objects.filter(not_expired, pk=reservation_id, state=PENDING).update(
            expires_at=None
        )
        == 1
    )


def _resolve(reservation_id: int, *, posted_energy: int | None) -> bool:
    with transaction.atomic():
        reservation = (
            Reservation.objects.select_for_update()
            .only("state", "pool_id", "estimated_energy")
            .filter(pk=reservation_id)
            .first()
        )
        if reservation is None or reservation.state != PENDING:
            return False
        if posted_energy is None:
            reservation.state = Reservation.State.VOIDED
        else:
            reservation.state = Reservation.State.POSTED
            reservation.posted_energy = posted_energy
        Reservation.objects.filter(pk=reservation_id).update(
            state=reservation.state,
            posted_energy=reservation.posted_energy,
            resolved_at=Now(),
            expires_at=None,
        )
        pool_update: dict[str, object] = {
            "reserved_energy": F("reserved_energy") - reservation.estimated_energy
        }
        if posted_energy:
            # Charged now, so the pool never looks fuller than it is until the next sync
            # overwrites energy_used with the chain's own number.
            pool_update["energy_used"] = F("energy_used") + posted_energy
        EnergyPool.objects.filter(pk=reservation.pool_id).update(**pool_update)
        pools_changed(
            pool_ids=[reservation.pool_id], reason="void" if posted_energy is None else "post"
        )
    return True


def reservation_post(*, reservation_id: int, energy_used: int) -> bool:
    """Settle with the energy the chain charged from the pool's stake; release the estimate.

    Idempotent: False if the reservation was already resolved (nothing changes then).
    """
    if energy_used < 0:
        raise ValueError("energy used cannot be negative")
    return _resolve(reservation_id, posted_energy=energy_used)


def reservation_void(*, reservation_id: int) -> bool:
    """Release the whole estimate. Idempotent: False if already resolved."""
    return _resolve(reservation_id, posted_energy=None)


def reservations_expire(*, limit: int = 1000) -> int:
    """Void unsigned reservations whose `expires_at` has passed on the database's clock.

    Rows locked by another transaction are skipped and picked up on the next run.
    """
    with transaction.atomic():
        expired = list(
            Reservation.objects.select_for_update(skip_locked=True)
            .filter(state=PENDING, expires_at__isnull=False, expires_at__lte=Now())
            .values_list("pk", "pool_id", "estimated_energy")[:limit]
        )
        if not expired:
            return 0
        Reservation.objects.filter(pk__in=[pk for pk, _, _ in expired]).update(
            state=Reservation.State.VOIDED, resolved_at=Now(), expires_at=None
        )
        released: dict[int, int] = defaultdict(int)
        for _, pool_id, energy in expired:
            released[pool_id] += energy
        for pool_id in sorted(released):  # a fixed order: no deadlock between two runs
            EnergyPool.objects.filter(pk=pool_id).update(
                reserved_energy=F("reserved_energy") - released[pool_id]
            )
        pools_changed(pool_ids=released.keys(), reason="expire")
    return len(expired)
