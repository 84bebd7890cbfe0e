"""Signing, broadcasting and confirming withdrawals exactly once (docs/protocols.md,
Exactly-once sending).

- A reserved withdrawal's reservation is marked signed (it can no longer expire), then a
  transaction is built against the node's head block, signed, and stored as an `Attempt`
  with its txid, expiration and reference block before anything is broadcast.
- An attempt is broadcast with its stored bytes, as often as an unclear outcome requires;
  a node that already has it answers DUP_TRANSACTION_ERROR, which counts as accepted.
- An attempt ends only on evidence: a solidified receipt (confirmed or failed), or the
  solidified chain past its expiration with the transaction unknown (dead). Only then may
  a new attempt be built. The partial unique constraint keeps at most one attempt per
  withdrawal possibly live.

Every step is a compare-and-set on the withdrawal's or attempt's state, so a process killed
at any line leaves a state the next run of `withdrawals_drive` continues from.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from alerts.models import EnergyAlert, Level
from alerts.services import alert_raise
from common.logs import request_id_bound
from common.tron import USDT_UNIT
from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD, fee_limit_for
from pools.chain.errors import ChainError, ChainRejected
from pools.chain.types import TxReceipt
from pools.models import EnergyUsageLog, Reservation
from pools.selectors import energy_fee_at, signer_for_address
from pools.services.ledger import reservation_mark_signed, reservation_post, reservation_void
from withdrawals.events import withdrawal_changed
from withdrawals.models import Attempt, Withdrawal
from withdrawals.services.balances import withdrawal_holds_release, withdrawal_holds_settle
from withdrawals.services.emergency import emergency_fee_refund

logger = logging.getLogger(__name__)

Status = Withdrawal.Status
AttemptState = Attempt.State
REBROADCAST_MAX_SECONDS = 60


def _ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _publish(withdrawal_id: int, partner_id: int, status: str, event: str) -> None:
    withdrawal_changed(
        withdrawal_id=withdrawal_id, partner_id=partner_id, status=status, event=event
    )


def withdrawal_sign(*, withdrawal: Withdrawal) -> Attempt | None:
    """Build, sign and store a transaction for a reserved withdrawal (not yet broadcast).

    Building and signing touch nothing; one transaction then marks the reservation signed
    (so it can no longer expire), moves the withdrawal to signed and stores the attempt —
    all or none. Returns the new attempt; None when there is nothing to do (not reserved,
    an attempt already possibly live, or the reservation expired first). Raises
    `ChainError` if no node can build it; safe to call again.
    """
    if withdrawal.status != Status.RESERVED or withdrawal.pool_id is None:
        return None
    if Attempt.objects.filter(withdrawal=withdrawal, state__in=Attempt.LIVE_STATES).exists():
        return None
    emergency = withdrawal.mode == Withdrawal.Mode.EMERGENCY
    # An emergency withdrawal burns TRX from a wallet with no stake: nothing is reserved.
    reservation = (
        None
        if emergency
        else Reservation.objects.filter(
            withdrawal=withdrawal, state=Reservation.State.PENDING
        ).first()
    )
    if reservation is None and not emergency:
        return None  # expired: expire_and_audit puts it back in the queue
    pool = withdrawal.pool
    assert pool is not None
    signer = signer_for_address(address=pool.address)
    if signer is None:
        raise ChainRejected(f"no key is held for pool {pool.pk}", code="NO_KEY")
    client = chain_client()
    # fee_limit is a cap, not a charge: size it for the dearer transfer, whatever was
    # estimated at request time (the recipient may have emptied its USDT since).
    energy = max(withdrawal.energy_estimate or 0, USDT_TRANSFER_ENERGY_COLD)
    unsigned = client.build_usdt_transfer(
        owner=pool.address,
        to=withdrawal.to_address,
        amount=int(withdrawal.amount * USDT_UNIT),
        fee_limit=fee_limit_for(
            energy=energy,
            energy_fee=client.chain_parameters().energy_fee,
            max_fee_limit=settings.WITHDRAWAL_MAX_FEE_LIMIT_SUN,
        ),
    )
    signed = client.sign(unsigned, signer)
    try:
        with transaction.atomic():
            # Lock order as everywhere: the withdrawal before its reservation (a cancel
            # locks the withdrawal, then its holds, then the reservation).
            if not Withdrawal.objects.filter(pk=withdrawal.pk, status=Status.RESERVED).update(
                status=Status.SIGNED, updated_at=Now()
            ) or not (
                reservation is None or reservation_mark_signed(reservation_id=reservation.pk)
            ):
                transaction.set_rollback(True)
                return None
            attempt = Attempt.objects.create(
                withdrawal=withdrawal,
                signed_transaction=signed,
                txid=unsigned.txid,
                expiration=_ms_to_datetime(unsigned.expiration_ms),
                ref_block_bytes=unsigned.ref_block_bytes,
                ref_block_hash=unsigned.ref_block_hash,
                fee_limit_sun=unsigned.fee_limit_sun or 0,
            )
            _publish(withdrawal.pk, withdrawal.partner_id, Status.SIGNED, "withdrawal.signed")
    except IntegrityError:
        return None  # another worker stored a live attempt first: it drives that one
    return attempt


def attempt_broadcast(*, attempt: Attempt) -> None:
    """Send the stored bytes. Accepted: the withdrawal is broadcast. Unclear: no change.

    A refusal is recorded but ends nothing: an earlier broadcast with an unclear outcome may
    have reached another node, and a node that sees the transaction's effect already applied
    refuses it too. Only expiration on the solidified chain proves an attempt dead.
    """
    try:
        result = chain_client().broadcast(attempt.signed_transaction)
    except ChainError as exc:
        logger.warning(
            "withdrawal %s: broadcast unclear, will retry: %s", attempt.withdrawal_id, exc
        )
        return
    live = Attempt.objects.filter(pk=attempt.pk, state__in=Attempt.LIVE_STATES)
    if result.accepted:
        with transaction.atomic():
            accepted = live.update(
                state=AttemptState.BROADCAST,
                broadcast_count=F("broadcast_count") + 1,
                last_broadcast_at=Now(),
                updated_at=Now(),
            )
            # Only this live attempt moves the withdrawal (a late answer about a dead one
            # must not mark its successor broadcast).
            if accepted and Withdrawal.objects.filter(
                pk=attempt.withdrawal_id, status=Status.SIGNED
            ).update(status=Status.BROADCAST, updated_at=Now()):
                withdrawal = Withdrawal.objects.only("partner_id").get(pk=attempt.withdrawal_id)
                _publish(
                    attempt.withdrawal_id,
                    withdrawal.partner_id,
                    Status.BROADCAST,
                    "withdrawal.broadcast",
                )
        return
    logger.warning(
        "withdrawal %s: node refused %s: %s %s",
        attempt.withdrawal_id,
        attempt.txid,
        result.code,
        result.message,
    )
    live.update(result=f"{result.code}: {result.message}"[:64], updated_at=Now())


def _report_failed(withdrawal: Withdrawal, message: str) -> None:
    """Ask a person to look at a withdrawal that failed, and tell its watchers."""
    alert_raise(
        partner_id=withdrawal.partner_id,
        pool_id=withdrawal.pool_id,
        kind=EnergyAlert.Kind.WITHDRAWAL_FAILED,
        level=Level.CRITICAL,
        message=message,
    )
    _publish(withdrawal.pk, withdrawal.partner_id, Status.FAILED, "withdrawal.failed")


def _retire(attempt: Attempt, *, reason: str) -> None:
    """A dead attempt: nothing was spent. The withdrawal is signed again, unless it has
    died too often (a node keeps refusing it): then it fails, its funds and energy are
    released, and a person is asked to look."""
    withdrawal = Withdrawal.objects.get(pk=attempt.withdrawal_id)
    dead = Attempt.objects.filter(withdrawal=withdrawal, state=AttemptState.DEAD).count()
    logger.info("withdrawal %s: attempt %s dead (%s)", withdrawal.pk, attempt.txid, reason)
    in_flight = Withdrawal.objects.filter(
        pk=withdrawal.pk, status__in=(Status.SIGNED, Status.BROADCAST)
    )
    if dead < settings.WITHDRAWAL_MAX_DEAD_ATTEMPTS:
        in_flight.update(status=Status.RESERVED, updated_at=Now())
        return
    if not in_flight.update(
        status=Status.FAILED,
        failure_reason=f"never reached a block: {reason}",
        updated_at=Now(),
    ):
        return
    withdrawal_holds_release(withdrawal_id=withdrawal.pk)
    refunded = emergency_fee_refund(withdrawal=withdrawal)
    for reservation_id in Reservation.objects.filter(
        withdrawal=withdrawal, state=Reservation.State.PENDING
    ).values_list("pk", flat=True):
        reservation_void(reservation_id=reservation_id)
    _report_failed(
        withdrawal,
        f"Withdrawal {withdrawal.pk}: {dead} transactions expired without reaching "
        f"a block (last: {attempt.result or reason}); funds released to the user"
        + ("; the on-chain fee payment credited back." if refunded else "."),
    )


def _post_reservation(withdrawal: Withdrawal, receipt: TxReceipt) -> None:
    """Charge the energy the chain took from the pool's stake (after the holds: the pool
    row is locked last)."""
    reservation = Reservation.objects.filter(
        withdrawal=withdrawal, state=Reservation.State.PENDING
    ).first()
    if reservation is not None:
        reservation_post(reservation_id=reservation.pk, energy_used=receipt.energy_from_stake)


def _settle(attempt: Attempt, receipt: TxReceipt) -> bool:
    """Record the solidified outcome once: attempt, reservation, usage, holds, withdrawal."""
    withdrawal = Withdrawal.objects.select_related("pool").get(pk=attempt.withdrawal_id)
    with transaction.atomic():
        state = AttemptState.CONFIRMED if receipt.success else AttemptState.FAILED
        if not Attempt.objects.filter(pk=attempt.pk, state__in=Attempt.LIVE_STATES).update(
            state=state,
            result=receipt.result[:64],
            receipt=receipt.raw,
            block_number=receipt.block_number,
            updated_at=Now(),
        ):
            return False
        assert withdrawal.pool_id is not None
        used_at = _ms_to_datetime(receipt.block_timestamp_ms)
        EnergyUsageLog.objects.get_or_create(
            txid=attempt.txid,
            defaults={
                "pool_id": withdrawal.pool_id,
                "withdrawal_id": withdrawal.pk,
                "kind": EnergyUsageLog.Kind.EMERGENCY
                if withdrawal.mode == Withdrawal.Mode.EMERGENCY
                else EnergyUsageLog.Kind.WITHDRAWAL,
                "energy_used": receipt.energy_from_stake,
                "trx_burned_sun": receipt.fee_sun,
                "bandwidth_used": receipt.net_usage,
                "at": used_at,
                "energy_fee_sun": energy_fee_at(used_at),
            },
        )
        fields = {
            "energy_used": receipt.energy_usage_total,
            "trx_burned_sun": receipt.fee_sun,
            "bandwidth_used": receipt.net_usage,
            "updated_at": Now(),
        }
        if receipt.success:
            Withdrawal.objects.filter(pk=withdrawal.pk).update(
                status=Status.CONFIRMED,
                confirmed_at=_ms_to_datetime(receipt.block_timestamp_ms),
                **fields,
            )
            withdrawal_holds_settle(withdrawal_id=withdrawal.pk)
            _post_reservation(withdrawal, receipt)
            _publish(withdrawal.pk, withdrawal.partner_id, Status.CONFIRMED, "withdrawal.confirmed")
        else:
            # No automatic retry: every try burns TRX. The USDT never left: release it,
            # and ask a person (an empty hot wallet, a fee limit too low). The failure is
            # the platform's, so an emergency fee comes back too (the TRX hold released,
            # or an on-chain payment credited): the platform bears what was burned.
            reason = f"{receipt.result} in block {receipt.block_number}"
            Withdrawal.objects.filter(pk=withdrawal.pk).update(
                status=Status.FAILED, failure_reason=reason, **fields
            )
            withdrawal_holds_release(withdrawal_id=withdrawal.pk)
            refunded = emergency_fee_refund(withdrawal=withdrawal)
            _post_reservation(withdrawal, receipt)
            _report_failed(
                withdrawal,
                f"Withdrawal {withdrawal.pk} failed on chain: {reason} "
                f"(txid {attempt.txid}); funds released to the user"
                + ("; the on-chain fee payment credited back." if refunded else "."),
            )
    return True


def rebroadcast_due(attempt: Attempt) -> bool:
    """Whether an attempt the node does not know should be sent again now: at once if it
    was never accepted, then after 3 s, 6 s, 12 s … (at most a minute) since the last
    accepted broadcast. A node provider rate-limits per key (TronGrid: 15 requests/s), and
    a transaction that sits in a node's pending pool is unknown to `gettransactionbyid`."""
    if attempt.last_broadcast_at is None:
        return True
    wait = min(REBROADCAST_MAX_SECONDS, 3 * 2 ** max(0, attempt.broadcast_count - 1))
    return timezone.now() >= attempt.last_broadcast_at + timedelta(seconds=wait)


def attempt_drive(*, attempt: Attempt) -> None:
    """One step for a possibly live attempt: settle, retire, or (re)broadcast.

    Dead means: one node's solidified chain is past the expiration plus a margin, and the
    node has neither a receipt nor the transaction — on two consecutive checks. Anything
    less, and the attempt is left to settle (the node knows it) or the same bytes are sent
    again with backoff (harmless: a node that has them says DUP).
    """
    verdict = chain_client().transaction_verdict(attempt.txid)
    if verdict.receipt is not None:
        _settle(attempt, verdict.receipt)
        return
    margin_ms = settings.TRON_DEAD_MARGIN_SECONDS * 1000
    past = verdict.solid_head.timestamp_ms > attempt.expiration.timestamp() * 1000 + margin_ms
    live = Attempt.objects.filter(pk=attempt.pk, state__in=Attempt.LIVE_STATES)
    if not past or verdict.known:
        live.filter(dead_checks__gt=0).update(dead_checks=0, updated_at=Now())
        # In a block already (known): its receipt will come, sending it again only spends
        # the node provider's rate limit. Unknown and still valid: again, with backoff.
        if not past and not verdict.known and rebroadcast_due(attempt):
            attempt_broadcast(attempt=attempt)
        return
    if attempt.dead_checks < 1:
        live.update(dead_checks=F("dead_checks") + 1, updated_at=Now())
        return
    with transaction.atomic():
        if live.filter(dead_checks__gte=1).update(
            state=AttemptState.DEAD, result="expired, never on chain", updated_at=Now()
        ):
            _retire(attempt, reason="expired")


def withdrawals_drive(*, limit: int = 200) -> int:
    """The `broadcast_and_confirm` step for withdrawals: sign reserved ones (oldest first)
    and drive every possibly live attempt. Safe to run concurrently with itself. One
    item's failure is logged and skips that item only. Returns attempts signed or ended."""
    done = 0
    reserved = (
        Withdrawal.objects.filter(status=Status.RESERVED)
        .select_related("pool")
        .order_by("created_at", "pk")[:limit]
    )
    for withdrawal in reserved:
        try:
            with request_id_bound(withdrawal.request_id):
                attempt = withdrawal_sign(withdrawal=withdrawal)
                if attempt is not None:
                    logger.info("withdrawal %s: signed %s", withdrawal.pk, attempt.txid)
                    done += 1
                    attempt_broadcast(attempt=attempt)
        except ChainRejected as exc:
            if exc.code != "NO_KEY":
                logger.warning("withdrawal %s: cannot sign now: %s", withdrawal.pk, exc)
                continue
            # Nothing will sign it until the pool's key is imported: ask a person (its
            # reservation expires and it waits in the queue meanwhile, funds held).
            alert_raise(
                partner_id=withdrawal.partner_id,
                pool_id=withdrawal.pool_id,
                kind=EnergyAlert.Kind.WITHDRAWAL_FAILED,
                level=Level.CRITICAL,
                message=f"Withdrawal {withdrawal.pk} cannot be signed: no key is held for "
                f"pool {withdrawal.pool_id}. Import the pool's key, or cancel the withdrawal.",
            )
        except ChainError as exc:
            logger.warning("withdrawal %s: cannot sign now: %s", withdrawal.pk, exc)
        except Exception:
            logger.exception("withdrawal %s: signing failed", withdrawal.pk)
    live = Attempt.objects.filter(state__in=Attempt.LIVE_STATES).annotate(
        request_id=F("withdrawal__request_id")
    )
    for attempt in live.order_by("pk")[:limit]:
        try:
            before = attempt.state
            with request_id_bound(attempt.request_id):
                attempt_drive(attempt=attempt)
                attempt.refresh_from_db(fields=["state"])
                if attempt.state != before:
                    logger.info("attempt %s: %s", attempt.txid, attempt.state)
            done += attempt.state != before
        except ChainError as exc:
            logger.warning("attempt %s: chain unavailable: %s", attempt.txid, exc)
        except Exception:
            logger.exception("attempt %s: driving failed", attempt.txid)
    return done
