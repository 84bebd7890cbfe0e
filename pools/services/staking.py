"""Stake 2.0 operations on custodial pools: quote, submit, drive to a final state. A rental
order's payment (kind `payment`, a TRX transfer; pools/services/rentals.py) is one too.

Exactly-once, as for withdrawals (docs/protocols.md, Exactly-once sending): the signed
transaction is stored before it is broadcast; an unclear broadcast is retried with the same
bytes; an operation is declared dead only when the node's head block is past its expiration
and the node does not know the transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from common.db import in_callers_transaction
from common.idempotency import claim, ensure_same_request, request_hash
from common.tron import SUN_PER_TRX, tron_address_to_hex
from pools.chain import chain_client
from pools.chain.errors import ChainError, ChainRejected
from pools.chain.types import TxReceipt, UnsignedTransaction
from pools.models import EnergyPool, EnergyUsageLog, StakingOperation
from pools.selectors import energy_fee_at, signer_for_address, staking_operation_for_key
from pools.services.sync import pools_sync

logger = logging.getLogger(__name__)

Kind = StakingOperation.Kind
State = StakingOperation.State
MIN_STAKE_SUN = SUN_PER_TRX  # java-tron: at least 1 TRX


@dataclass(frozen=True)
class StakeQuote:
    """What staking `amount_sun` more would buy at the current network ratio."""

    amount_sun: int
    energy_limit_now: int
    energy_limit_after: int
    total_energy_limit: int
    total_energy_weight: int

    @property
    def energy_gain(self) -> int:
        return self.energy_limit_after - self.energy_limit_now


def staking_quote(*, pool: EnergyPool, amount_sun: int) -> StakeQuote:
    """Energy the pool would have after staking `amount_sun` more, read from the chain now.

    EnergyLimit = floor(own stake in TRX × TotalEnergyLimit / TotalEnergyWeight), and a
    stake adds to TotalEnergyWeight too (docs/tron.md, Staking).
    """
    state = chain_client().account_state(pool.address)
    own_trx = (
        state.staked_energy_sun + state.acquired_energy_sun - state.delegated_out_energy_sun
    ) // SUN_PER_TRX
    added_trx = amount_sun // SUN_PER_TRX
    weight = state.total_energy_weight + added_trx
    after = (own_trx + added_trx) * state.total_energy_limit // weight if weight else 0
    return StakeQuote(
        amount_sun=amount_sun,
        energy_limit_now=state.energy_limit,
        energy_limit_after=after,
        total_energy_limit=state.total_energy_limit,
        total_energy_weight=state.total_energy_weight,
    )


def _check(*, pool: EnergyPool, kind: Kind, amount_sun: int | None, receiver: str) -> None:
    if pool.custody != EnergyPool.Custody.CUSTODIAL:
        raise ValidationError({"pool": ["Only custodial pools can stake: this one is watch-only."]})
    if pool.status == EnergyPool.Status.ARCHIVED:
        raise ValidationError({"pool": ["The pool is archived."]})
    if kind == Kind.WITHDRAW:
        if amount_sun is not None:
            raise ValidationError({"amount": ["Withdrawing takes every matured unstake."]})
    elif amount_sun is None or amount_sun < MIN_STAKE_SUN:
        raise ValidationError({"amount": ["At least 1 TRX."]})
    if kind in (Kind.DELEGATE, Kind.UNDELEGATE, Kind.PAYMENT):
        if not receiver:
            raise ValidationError({"receiver": ["This field is required."]})
        try:
            tron_address_to_hex(receiver)
        except ValidationError as exc:
            raise ValidationError({"receiver": exc.messages}) from None
        if receiver == pool.address:
            raise ValidationError({"receiver": ["A pool cannot delegate or pay to itself."]})
    elif receiver:
        raise ValidationError({"receiver": ["Only delegations have a receiver."]})


def _build(
    *, pool: EnergyPool, kind: Kind, amount_sun: int | None, receiver: str, lock_period: int
) -> UnsignedTransaction:
    client = chain_client()
    owner = pool.address
    if kind == Kind.STAKE:
        assert amount_sun is not None
        return client.build_stake(owner=owner, amount_sun=amount_sun)
    if kind == Kind.UNSTAKE:
        assert amount_sun is not None
        return client.build_unstake(owner=owner, amount_sun=amount_sun)
    if kind == Kind.WITHDRAW:
        return client.build_withdraw_unstaked(owner=owner)
    assert amount_sun is not None
    if kind == Kind.PAYMENT:
        return client.build_trx_transfer(owner=owner, to=receiver, amount_sun=amount_sun)
    if kind == Kind.DELEGATE:
        return client.build_delegate(
            owner=owner, receiver=receiver, amount_sun=amount_sun, lock_period_blocks=lock_period
        )
    return client.build_undelegate(owner=owner, receiver=receiver, amount_sun=amount_sun)


CLAIM_SCOPE = "staking"


def _operation_hash(
    *, kind: str, amount_sun: int | None, receiver: str, lock_period_blocks: int
) -> str:
    return request_hash(
        {
            "kind": str(kind),
            "amount_sun": amount_sun,
            "receiver": receiver,
            "lock_period_blocks": lock_period_blocks,
        }
    )


def _operation_for_key(*, pool: EnergyPool, key: str, body_hash: str) -> StakingOperation | None:
    """The operation `key` already recorded on `pool` for the same request, or None; the key
    used for other parameters raises `IdempotencyMismatch`."""
    existing = staking_operation_for_key(pool=pool, key=key)
    if existing is None:
        return None
    ensure_same_request(
        stored_hash=_operation_hash(
            kind=existing.kind,
            amount_sun=existing.amount_sun,
            receiver=existing.receiver,
            lock_period_blocks=existing.lock_period_blocks,
        ),
        body_hash=body_hash,
        message="This Idempotency-Key was used for a different operation.",
    )
    return existing


def staking_submit(
    *,
    pool: EnergyPool,
    kind: Kind,
    amount_sun: int | None = None,
    receiver: str = "",
    lock_period_blocks: int = 0,
    idempotency_key: str | None = None,
    requested_by_id: int | None = None,
    reason: str = "",
) -> StakingOperation:
    """Build, sign, record and broadcast one operation; returns it.

    `reason` is recorded with it (the platform's own operations say why they were made;
    it is not part of the request's identity).

    Idempotent per (pool, idempotency_key) (`common/idempotency.py`): a repeat returns the
    recorded operation; a repeat with other parameters raises `IdempotencyMismatch`; a twin
    being recorded at that moment, `IdempotencyInFlight`. A twin that built and signed
    while the first was recorded broadcasts nothing and returns the first's operation. The
    node's verdict on the transaction itself (e.g. not enough balance) is recorded as a
    failed operation. Raises `ChainUnavailable` if no node answers while building; nothing
    is recorded then. Must be called outside any transaction: the signed operation is
    committed before it is broadcast, so a crash between the two leaves a record the drive
    job rebroadcasts, never TRX moved with no record.
    """
    if in_callers_transaction():
        raise RuntimeError("staking_submit must run outside a transaction (it broadcasts)")
    body_hash = _operation_hash(
        kind=kind, amount_sun=amount_sun, receiver=receiver, lock_period_blocks=lock_period_blocks
    )
    if idempotency_key and (
        existing := _operation_for_key(pool=pool, key=idempotency_key, body_hash=body_hash)
    ):
        return existing
    _check(pool=pool, kind=kind, amount_sun=amount_sun, receiver=receiver)
    signer = signer_for_address(address=pool.address)
    if signer is None:
        raise ValidationError({"pool": ["The platform holds no key for this pool."]})
    quote = (
        staking_quote(pool=pool, amount_sun=amount_sun).energy_gain
        if kind == Kind.STAKE and amount_sun
        else None
    )
    try:
        unsigned = _build(
            pool=pool,
            kind=kind,
            amount_sun=amount_sun,
            receiver=receiver,
            lock_period=lock_period_blocks,
        )
    except ChainRejected as exc:
        raise ValidationError({"non_field_errors": [exc.message]}) from None
    signed = chain_client().sign(unsigned, signer)
    try:
        with transaction.atomic():
            if idempotency_key:
                claim(scope=CLAIM_SCOPE, owner_id=pool.pk, key=idempotency_key)
                existing = _operation_for_key(pool=pool, key=idempotency_key, body_hash=body_hash)
                if existing is not None:  # a twin recorded it while this one built
                    return existing
            operation = StakingOperation.objects.create(
                pool=pool,
                kind=kind,
                amount_sun=amount_sun,
                receiver=receiver,
                lock_period_blocks=lock_period_blocks,
                energy_quote=quote,
                txid=unsigned.txid,
                signed_transaction=signed,
                expiration=datetime.fromtimestamp(unsigned.expiration_ms / 1000, tz=UTC),
                idempotency_key=idempotency_key or None,
                requested_by_id=requested_by_id,
                reason=reason[:500],
            )
    except IntegrityError:
        # Without the advisory lock (SQLite) the unique key is the referee.
        if idempotency_key and (
            existing := _operation_for_key(pool=pool, key=idempotency_key, body_hash=body_hash)
        ):
            return existing
        raise
    _broadcast(operation)
    return operation


def _broadcast(operation: StakingOperation, *, refusal_ends: bool = True) -> None:
    """Send the stored bytes and record the node's answer; an unclear outcome changes nothing.

    A refusal ends only an operation no node ever accepted, and only on its first broadcast
    (`refusal_ends`, from `staking_submit`). A rebroadcast's refusal proves nothing: the
    earlier, unclear broadcast may have landed (a node that sees its effect, or finds it
    expired, refuses it), so the operation waits for its receipt or to be proven dead.
    """
    try:
        result = chain_client().broadcast(operation.signed_transaction)
    except ChainError as exc:
        logger.warning("staking %s: broadcast unclear, will retry: %s", operation.txid, exc)
        return
    open_ops = StakingOperation.objects.filter(
        pk=operation.pk, state__in=StakingOperation.OPEN_STATES
    )
    if result.accepted:
        open_ops.update(
            state=State.BROADCAST,
            broadcast_count=F("broadcast_count") + 1,
            updated_at=timezone.now(),
        )
    elif refusal_ends:
        open_ops.filter(state=State.SIGNED).update(
            state=State.FAILED,
            result=f"{result.code}: {result.message}"[:500],
            broadcast_count=F("broadcast_count") + 1,
            updated_at=timezone.now(),
        )
    else:
        logger.info("staking %s: rebroadcast refused: %s", operation.txid, result.code)
    operation.refresh_from_db()


def staking_operations_drive() -> int:
    """Drive every open operation one step: confirm, fail, declare dead, or rebroadcast.

    As for withdrawals (docs/protocols.md, Exactly-once sending): the outcome comes from one node's
    solidified chain, and an operation is dead only when that chain is past its expiration
    plus `TRON_DEAD_MARGIN_SECONDS` and the node does not know it, on two consecutive
    checks; anything less, and the same bytes are broadcast again. Safe to run concurrently
    with itself: each transition is a compare-and-set on the operation's state. Pools
    whose operations ended are synced, and so are the platform's pools that received or
    gave back a delegation (their energy limit moved too). Returns operations ended.
    """
    client = chain_client()
    ended_pools: set[int] = set()
    receivers: set[str] = set()
    ended = 0
    margin_ms = settings.TRON_DEAD_MARGIN_SECONDS * 1000
    for operation in StakingOperation.objects.filter(state__in=StakingOperation.OPEN_STATES):
        try:
            verdict = client.transaction_verdict(operation.txid)
        except ChainError as exc:
            logger.warning("staking %s: no verdict now: %s", operation.txid, exc)
            continue
        if verdict.receipt is not None:
            if _record_outcome(operation, verdict.receipt):
                ended += 1
                ended_pools.add(operation.pool_id)
                if operation.receiver:
                    receivers.add(operation.receiver)
            continue
        open_op = StakingOperation.objects.filter(
            pk=operation.pk, state__in=StakingOperation.OPEN_STATES
        )
        expires_ms = operation.expiration.timestamp() * 1000
        past = verdict.solid_head.timestamp_ms > expires_ms + margin_ms
        if not past or verdict.known:
            open_op.filter(dead_checks__gt=0).update(dead_checks=0)
            # Still valid and the node has not got it: send it again. (Known: in a block
            # already, its receipt will come; another broadcast only spends rate limit.)
            if not verdict.known and verdict.solid_head.timestamp_ms < expires_ms:
                _broadcast(operation, refusal_ends=False)
            continue  # known, or within the margin: its receipt may yet come
        if operation.dead_checks < 1:
            open_op.update(dead_checks=F("dead_checks") + 1)
            continue
        if open_op.filter(dead_checks__gte=1).update(
            state=State.DEAD, result="expired before it reached a block"
        ):
            ended += 1
    if ended_pools:
        pools_sync(
            queryset=EnergyPool.objects.filter(Q(pk__in=ended_pools) | Q(address__in=receivers))
        )
    return ended


def _record_outcome(operation: StakingOperation, receipt: TxReceipt) -> bool:
    """Record a solidified receipt once; True if this call recorded it."""
    state = State.CONFIRMED if receipt.success else State.FAILED
    at = datetime.fromtimestamp(receipt.block_timestamp_ms / 1000, tz=UTC)
    with transaction.atomic():
        updated = StakingOperation.objects.filter(
            pk=operation.pk, state__in=StakingOperation.OPEN_STATES
        ).update(
            state=state,
            receipt=receipt.raw,
            block_number=receipt.block_number,
            result="" if receipt.success else receipt.result,
            confirmed_at=at,
        )
        if updated and (receipt.fee_sun or receipt.net_usage):
            EnergyUsageLog.objects.get_or_create(
                txid=operation.txid,
                defaults={
                    "pool_id": operation.pool_id,
                    "kind": EnergyUsageLog.Kind.STAKING,
                    "energy_used": receipt.energy_from_stake,
                    "trx_burned_sun": receipt.fee_sun,
                    "bandwidth_used": receipt.net_usage,
                    "at": at,
                    "energy_fee_sun": energy_fee_at(at),
                },
            )
    return bool(updated)
