"""Emergency withdrawals: the user pays the TRX fee and goes now, without pool energy.

A quote states its inputs (energy for this recipient, the live energy price, a transfer's
bandwidth and its price) and expires. Payment is taken from the user's TRX balance, or is
an on-chain TRX transfer to the partner's emergency wallet, verified on chain: the right
recipient, enough, solidified, inside the quote's window, and never used before. The
withdrawal is then sent from the emergency wallet, which holds no stake, so the transfer
burns TRX instead of spending energy an energy pool promised to others.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from common.idempotency import (
    PLATFORM_KEY_PREFIX,
    IdempotencyError,
    IdempotencyMismatch,
    claim,
    request_hash,
)
from common.logs import request_id_current
from common.tron import SUN_PER_TRX
from partners.models import Customer
from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD, USDT_TRANSFER_ENERGY_WARM
from withdrawals.events import withdrawal_changed
from withdrawals.models import Currency, EmergencyFee, Withdrawal
from withdrawals.selectors import USDT_TRANSFER_BANDWIDTH, emergency_wallet_for
from withdrawals.services.balances import balance_credit, hold_place
from withdrawals.services.idempotency import CLAIM_SCOPE, withdrawal_for_key

logger = logging.getLogger(__name__)

Status = Withdrawal.Status
# A confirm's natural key is its withdrawal: one payment each.
CONFIRM_CLAIM_SCOPE = "emergency-confirm"


def _quote_for_key(*, partner_id: int, key: str, body_hash: str) -> EmergencyFee | None:
    """The quote this key already made for the same request, or None; a key already used
    for anything else (another customer, address, amount, or a standard withdrawal) is
    refused with `IdempotencyMismatch`."""
    found = withdrawal_for_key(partner_id=partner_id, key=key, body_hash=body_hash)
    if found is None:
        return None
    return EmergencyFee.objects.select_related("withdrawal__pool").get(withdrawal_id=found)


def emergency_quote(
    *, customer: Customer, to_address: str, amount: Decimal, idempotency_key: str | None = None
) -> EmergencyFee:
    """Quote the TRX fee of sending now, and record the withdrawal awaiting payment.

    With `idempotency_key`, a repeat of the same request (customer, address, amount)
    returns the first quote; the key used for anything else raises `IdempotencyMismatch`,
    and a twin still being recorded `IdempotencyInFlight`. Raises `ValidationError` when
    the partner has no emergency wallet, and `ChainUnavailable` when no node answers.
    """
    body_hash = request_hash(
        {
            "customer": customer.pk,
            "to_address": to_address,
            "amount": str(amount.normalize()),
            "mode": Withdrawal.Mode.EMERGENCY.value,
        }
    )
    if idempotency_key and (
        existing := _quote_for_key(
            partner_id=customer.partner_id, key=idempotency_key, body_hash=body_hash
        )
    ):
        return existing
    wallet = emergency_wallet_for(partner_id=customer.partner_id)
    if wallet is None:
        raise ValidationError(
            {"non_field_errors": ["The partner has no emergency wallet to send from."]}
        )
    client = chain_client()
    params = client.chain_parameters()
    holder = client.usdt_balance(to_address) > 0
    energy = USDT_TRANSFER_ENERGY_WARM if holder else USDT_TRANSFER_ENERGY_COLD
    fee_sun = energy * params.energy_fee + USDT_TRANSFER_BANDWIDTH * params.transaction_fee
    try:
        with transaction.atomic():
            if idempotency_key:
                claim(scope=CLAIM_SCOPE, owner_id=customer.partner_id, key=idempotency_key)
                existing = _quote_for_key(
                    partner_id=customer.partner_id, key=idempotency_key, body_hash=body_hash
                )
                if existing is not None:
                    return existing
            withdrawal = Withdrawal.objects.create(
                customer=customer,
                partner_id=customer.partner_id,
                pool=wallet,
                to_address=to_address,
                amount=amount,
                mode=Withdrawal.Mode.EMERGENCY,
                energy_estimate=energy,
                idempotency_key=idempotency_key,
                request_hash=body_hash,
                request_id=request_id_current(),
            )
            return EmergencyFee.objects.create(
                withdrawal=withdrawal,
                energy_estimate=energy,
                energy_fee_sun=params.energy_fee,
                bandwidth_estimate=USDT_TRANSFER_BANDWIDTH,
                bandwidth_fee_sun=params.transaction_fee,
                recipient_holds_usdt=holder,
                quoted_fee_sun=fee_sun,
                expires_at=timezone.now() + timedelta(seconds=settings.EMERGENCY_QUOTE_SECONDS),
            )
    except IntegrityError:
        # Without the advisory lock (SQLite) the unique key is the referee.
        if idempotency_key and (
            existing := _quote_for_key(
                partner_id=customer.partner_id, key=idempotency_key, body_hash=body_hash
            )
        ):
            return existing
        raise


def _verify_payment(fee: EmergencyFee, txid: str) -> None:
    """The on-chain payment must be a solidified, successful TRX transfer of at least the
    quoted fee to the emergency wallet, made after the quote and before it expired."""
    wallet = fee.withdrawal.pool
    assert wallet is not None
    payment = chain_client().trx_payment(txid)
    if payment is None:
        raise ValidationError({"payment_txid": ["No TRX transfer with this txid."]})
    if not payment.solidified:
        raise ValidationError({"payment_txid": ["The payment is not confirmed yet."]})
    if not payment.success:
        raise ValidationError({"payment_txid": ["The payment failed on chain."]})
    if payment.recipient != wallet.address:
        raise ValidationError({"payment_txid": ["The payment went to another address."]})
    if payment.amount_sun < fee.quoted_fee_sun:
        raise ValidationError({"payment_txid": ["The payment is less than the quoted fee."]})
    paid_at = datetime.fromtimestamp(payment.block_timestamp_ms / 1000, tz=UTC)
    # The chain's clock, with a minute's slack for blocks landing around the quote.
    if not fee.created_at - timedelta(minutes=1) <= paid_at <= fee.expires_at:
        raise ValidationError({"payment_txid": ["The payment was not made within the quote."]})


def emergency_confirm(
    *, withdrawal: Withdrawal, paid_with: EmergencyFee.PaidWith, payment_txid: str | None = None
) -> Withdrawal:
    """Take the payment and release the withdrawal to be sent now.

    Idempotent by the withdrawal: for one already paid the same way it returns the
    withdrawal; paid another way, `IdempotencyMismatch`; while a twin confirm is paying it,
    `IdempotencyInFlight`. Raises `ValidationError` (and changes nothing) for an expired
    quote, missing funds, or a payment that does not verify or was used before. An
    on-chain payment made within the quote for a withdrawal that was cancelled meanwhile
    is recorded and credited to the TRX balance, and still answered with a
    `ValidationError` saying so (every time it is sent).
    """
    fee = EmergencyFee.objects.select_related("withdrawal__pool").get(withdrawal=withdrawal)
    if fee.paid_at is not None:
        return _already_paid(fee, paid_with=paid_with, payment_txid=payment_txid)
    # The quoted price holds for payments made while it is valid: from the balance, now;
    # on chain, by the payment's block time (checked in `_verify_payment`), since a payment
    # made in the quote's last minute solidifies only after it.
    if paid_with == EmergencyFee.PaidWith.BALANCE and fee.expires_at <= timezone.now():
        raise ValidationError({"quote": ["The quote has expired; ask for a new one."]})
    if paid_with == EmergencyFee.PaidWith.ONCHAIN:
        if not payment_txid:
            raise ValidationError({"payment_txid": ["This field is required."]})
        if EmergencyFee.objects.filter(payment_txid=payment_txid).exists():
            raise ValidationError({"payment_txid": ["This payment was already used."]})
        _verify_payment(fee, payment_txid)
    elif payment_txid:
        raise ValidationError({"payment_txid": ["Only on-chain payments have a txid."]})
    try:
        with transaction.atomic():
            claim(scope=CONFIRM_CLAIM_SCOPE, owner_id=withdrawal.pk, key="")
            locked = Withdrawal.objects.select_for_update().get(pk=withdrawal.pk)
            paid = EmergencyFee.objects.select_related("withdrawal__pool").get(pk=fee.pk)
            if paid.paid_at is not None:  # a twin confirm paid it while this one verified
                return _already_paid(paid, paid_with=paid_with, payment_txid=payment_txid)
            if locked.status == Status.CANCELLED and paid_with == EmergencyFee.PaidWith.ONCHAIN:
                # Paid in time, confirmed only after the quote was given up: the payment is
                # recorded (never usable again) and credited to the TRX balance.
                EmergencyFee.objects.filter(pk=fee.pk).update(
                    paid_with=paid_with, payment_txid=payment_txid, paid_at=timezone.now()
                )
                emergency_fee_refund(withdrawal=locked)
            else:
                _take_payment(locked, fee, paid_with=paid_with, payment_txid=payment_txid)
                return locked
    except IntegrityError:
        raise ValidationError({"payment_txid": ["This payment was already used."]}) from None
    raise _cancelled_but_credited()


def _take_payment(
    locked: Withdrawal,
    fee: EmergencyFee,
    *,
    paid_with: EmergencyFee.PaidWith,
    payment_txid: str | None,
) -> None:
    if locked.status != Status.REQUESTED:
        raise ValidationError({"status": [f"The withdrawal is {locked.status}."]})
    hold_place(withdrawal=locked, currency=Currency.USDT, amount=locked.amount)
    if paid_with == EmergencyFee.PaidWith.BALANCE:
        fee_trx = Decimal(fee.quoted_fee_sun) / SUN_PER_TRX
        try:
            hold_place(withdrawal=locked, currency=Currency.TRX, amount=fee_trx)
        except ValidationError:
            raise ValidationError(
                {"paid_with": ["The TRX balance does not cover the fee."]}
            ) from None
    EmergencyFee.objects.filter(pk=fee.pk).update(
        paid_with=paid_with, payment_txid=payment_txid or None, paid_at=timezone.now()
    )
    locked.status = Status.RESERVED
    locked.save(update_fields=["status", "updated_at"])
    withdrawal_changed(
        withdrawal_id=locked.pk,
        partner_id=locked.partner_id,
        status=locked.status,
        event="withdrawal.paid",
    )


def _cancelled_but_credited() -> ValidationError:
    return ValidationError(
        {
            "status": [
                "The withdrawal was cancelled before this payment was confirmed; "
                "the payment was credited to the TRX balance."
            ]
        }
    )


def _already_paid(
    fee: EmergencyFee, *, paid_with: EmergencyFee.PaidWith, payment_txid: str | None
) -> Withdrawal:
    if (fee.paid_with, fee.payment_txid) != (paid_with, payment_txid or None):
        raise IdempotencyMismatch("This withdrawal is already paid another way.")
    withdrawal = Withdrawal.objects.get(pk=fee.withdrawal_id)
    if withdrawal.status == Status.CANCELLED and paid_with == EmergencyFee.PaidWith.ONCHAIN:
        raise _cancelled_but_credited()
    return withdrawal


def emergency_quotes_expire() -> int:
    """Cancel emergency withdrawals whose quote expired unpaid (nothing was held for them).

    Not before `EMERGENCY_PAYMENT_GRACE_SECONDS` past the quote's expiry: an on-chain
    payment made just in time is confirmable only once it has solidified.
    """
    grace = timedelta(seconds=settings.EMERGENCY_PAYMENT_GRACE_SECONDS)
    unpaid = EmergencyFee.objects.filter(
        withdrawal=OuterRef("pk"),
        paid_at__isnull=True,
        expires_at__lte=timezone.now() - grace,
    )
    # The status test stays on the updated row itself (not in a subquery, as a filter
    # across the relation would put it), so a confirm that paid and reserved the
    # withdrawal while this waited for its lock is seen, and the row left alone.
    return Withdrawal.objects.filter(
        Exists(unpaid), mode=Withdrawal.Mode.EMERGENCY, status=Status.REQUESTED
    ).update(status=Status.CANCELLED, failure_reason="quote expired unpaid")


def emergency_fee_refund(*, withdrawal: Withdrawal) -> bool:
    """Give an emergency withdrawal's on-chain fee payment back, as a credit to the
    customer's TRX balance, once (keyed by the withdrawal, in the platform's own key space):
    for a withdrawal that failed on chain or was cancelled. A fee paid from the balance
    comes back by releasing its hold instead. The platform bears whatever a failed
    transaction burned: a failure on chain (an empty hot wallet, a fee limit too low) is
    never the user's doing. Returns True when a refund was credited now; a refund that
    cannot be credited is logged and never blocks the caller's settlement."""
    fee = EmergencyFee.objects.filter(
        withdrawal_id=withdrawal.pk, paid_with=EmergencyFee.PaidWith.ONCHAIN
    ).first()
    if fee is None:
        return False
    try:
        _, applied = balance_credit(
            customer=withdrawal.customer,
            currency=Currency.TRX,
            amount=Decimal(fee.quoted_fee_sun) / SUN_PER_TRX,
            idempotency_key=f"{PLATFORM_KEY_PREFIX}emergency-refund:{withdrawal.pk}",
            reference=f"fee of withdrawal {withdrawal.pk} (payment {fee.payment_txid})",
        )
    except (ValidationError, IdempotencyError):  # the balance cannot hold it: a person must look
        logger.exception("emergency fee refund for withdrawal %s not credited", withdrawal.pk)
        return False
    return applied
