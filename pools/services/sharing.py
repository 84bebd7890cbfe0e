"""Energy lent between a partner's pools, or to it from an operator reserve pool it holds a
grant on: the pool-level mechanics of a share (a delegation the
`rebalance_pools` job decided, predictions/services/rebalance.py) — record it, delegate,
settle, give back.

Every step is a staking operation (pools/services/staking.py) with its exactly-once protocol,
found again by the share's idempotency key: the share is committed before its operation is
built, the operation before it is broadcast. A process killed anywhere leaves a share that
the next run carries on with the same key, so one share never makes two operations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from pools.models import EnergyPool, EnergyShare, ReserveGrant, StakingOperation
from pools.services.staking import staking_submit
from pools.services.sync import pools_sync

logger = logging.getLogger(__name__)

State = EnergyShare.State
OpState = StakingOperation.State
Kind = StakingOperation.Kind


def _refusal(exc: ValidationError) -> str:
    return "; ".join(exc.messages)[:500]


def share_open(
    *,
    donor: EnergyPool,
    receiver: EnergyPool,
    amount_sun: int,
    energy: int,
    lock_period_blocks: int,
    reason: str,
) -> EnergyShare | None:
    """Record a loan of `amount_sun` of the donor's stake to the receiver, then delegate it.

    The donor is a pool of the receiver's partner, or an operator reserve
    (`EnergyPool.is_reserve`) the receiver's partner holds a `ReserveGrant` on; anything
    else raises ValueError. The loan's `partner` is the receiver's (the borrower). A reserve
    loan is recorded only while the partner's open loans from that reserve plus this one stay
    within the grant's `max_energy` (checked under a lock on the grant row, so two runs cannot
    both fill the last of it).

    The share is committed (state planned) before anything is built, so a crash before its
    operation is recorded leaves a planned share that `shares_settle` delegates with the same
    key. Returns None, recording nothing, when the pair already has an open share (one loan
    per donor and receiver: `share_one_open_per_pair`) or the grant's cap would be passed.
    Must run outside a transaction.
    """
    reserve = donor.partner_id != receiver.partner_id
    if reserve and not donor.is_reserve:
        raise ValueError("a share stays within one partner, or comes from an operator reserve")
    try:
        with transaction.atomic():
            if reserve:
                grant = (
                    ReserveGrant.objects.select_for_update()
                    .filter(pool=donor, partner_id=receiver.partner_id)
                    .first()
                )
                if grant is None:
                    raise ValueError(f"partner {receiver.partner_id} may not draw from {donor}")
                drawn = (
                    EnergyShare.objects.filter(
                        donor=donor,
                        partner_id=receiver.partner_id,
                        state__in=EnergyShare.OPEN_STATES,
                    ).aggregate(total=Sum("energy"))["total"]
                    or 0
                )
                if drawn + energy > grant.max_energy:
                    return None
            share = EnergyShare.objects.create(
                partner_id=receiver.partner_id,
                donor=donor,
                receiver=receiver,
                amount_sun=amount_sun,
                energy=energy,
                lock_period_blocks=lock_period_blocks,
                reason=reason[:500],
            )
    except IntegrityError:
        return None
    return share_delegate(share=share)


def _move(share: EnergyShare, from_state: str, *, read_back: bool = True, **fields: Any) -> int:
    """Compare-and-set: write `fields` on the share only while it is in `from_state` (then
    read it back unless `read_back` is False). Returns 1 if it moved, 0 if another run moved
    it first."""
    moved = EnergyShare.objects.filter(pk=share.pk, state=from_state).update(
        **fields, updated_at=timezone.now()
    )
    if read_back:
        share.refresh_from_db()
    return moved


def share_delegate(*, share: EnergyShare) -> EnergyShare:
    """Make (or find, by its key) a planned share's DelegateResource and move it to
    delegating. The chain refusing to build it (the donor's stake is no longer free) fails
    the share; a node outage leaves it planned for the next run (`ChainUnavailable` is
    raised)."""
    try:
        operation = staking_submit(
            pool=share.donor,
            kind=Kind.DELEGATE,
            amount_sun=share.amount_sun,
            receiver=share.receiver.address,
            lock_period_blocks=share.lock_period_blocks,
            idempotency_key=share.delegate_key,
            reason=share.reason,
        )
    except ValidationError as exc:
        _move(share, State.PLANNED, state=State.FAILED, result=_refusal(exc))
        return share
    _move(share, State.PLANNED, state=State.DELEGATING, delegate_operation=operation)
    return share


def share_return(*, share: EnergyShare, reason: str) -> EnergyShare:
    """Give an active share back: UnDelegateResource of its amount, recorded with `reason`.

    Claimed by a compare-and-set (active → returning, a new attempt number) committed before
    the operation is built; a crash then leaves a returning share without an operation that
    `shares_settle` submits with the same key. The chain refusing to build it puts the share
    back to active for a later run.
    """
    claimed = _move(
        share,
        State.ACTIVE,
        state=State.RETURNING,
        return_attempts=F("return_attempts") + 1,
        return_reason=reason[:500],
        undelegate_operation=None,
    )
    if not claimed:
        return share
    return _undelegate(share)


def _undelegate(share: EnergyShare) -> EnergyShare:
    try:
        operation = staking_submit(
            pool=share.donor,
            kind=Kind.UNDELEGATE,
            amount_sun=share.amount_sun,
            receiver=share.receiver.address,
            idempotency_key=share.undelegate_key,
            reason=share.return_reason,
        )
    except ValidationError as exc:
        _move(share, State.RETURNING, state=State.ACTIVE, result=_refusal(exc))
        return share
    EnergyShare.objects.filter(
        pk=share.pk, state=State.RETURNING, undelegate_operation__isnull=True
    ).update(undelegate_operation=operation, updated_at=timezone.now())
    share.refresh_from_db()
    return share


@dataclass(frozen=True)
class SettleReport:
    resumed: int  # planned or returning shares whose operation was (re)submitted
    delegated: int  # delegating → active
    returned: int  # returning → returned
    failed: int  # delegating → failed, or a return that failed back to active


def shares_settle() -> SettleReport:
    """Carry every share in flight one step from its operation's state.

    planned (a run died before its operation was recorded): delegate with its key.
    delegating: its operation confirmed → both pools synced, then active (with the block
    the lock counts from); failed or dead → failed, nothing lent. returning without its
    operation: submit it with its key; its operation confirmed → both pools synced, then
    returned; failed or dead → active again (tried again later). Pools are synced before
    the states change, so a plan read afterwards sees the energy where it now is.
    """
    shares = list(
        EnergyShare.objects.filter(
            state__in=[State.PLANNED, State.DELEGATING, State.RETURNING]
        ).select_related("donor", "receiver", "delegate_operation", "undelegate_operation")
    )
    resumed = 0
    to_active: list[EnergyShare] = []
    to_returned: list[EnergyShare] = []
    failed = 0
    now = timezone.now()
    for share in shares:
        if share.state == State.PLANNED:
            share_delegate(share=share)
            resumed += 1
        elif share.state == State.DELEGATING:
            op = share.delegate_operation
            assert op is not None
            if op.state == OpState.CONFIRMED:
                to_active.append(share)
            elif op.state in (OpState.FAILED, OpState.DEAD):
                failed += _move(
                    share,
                    State.DELEGATING,
                    state=State.FAILED,
                    result=(op.result or op.state)[:500],
                )
        else:
            op = share.undelegate_operation
            if op is None:
                _undelegate(share)
                resumed += 1
            elif op.state == OpState.CONFIRMED:
                to_returned.append(share)
            elif op.state in (OpState.FAILED, OpState.DEAD):
                failed += _move(
                    share,
                    State.RETURNING,
                    read_back=False,
                    state=State.ACTIVE,
                    result=(op.result or op.state)[:500],
                )
    touched = {s.donor_id for s in to_active + to_returned}
    touched |= {s.receiver_id for s in to_active + to_returned}
    if touched:
        pools_sync(queryset=EnergyPool.objects.filter(pk__in=touched))
    delegated = 0
    for share in to_active:
        assert share.delegate_operation is not None
        delegated += _move(
            share,
            State.DELEGATING,
            read_back=False,
            state=State.ACTIVE,
            delegated_block=share.delegate_operation.block_number,
        )
    returned = 0
    for share in to_returned:
        returned += _move(
            share, State.RETURNING, read_back=False, state=State.RETURNED, returned_at=now
        )
    return SettleReport(resumed=resumed, delegated=delegated, returned=returned, failed=failed)
