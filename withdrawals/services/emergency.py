"""Emergency withdrawals: the user pays the TRX fee and goes now, without pool energy.

A quote states its inputs (energy for this recipient, the live energy price, a transfer's
bandwidth and its price) and expires. Payment is taken from the user's TRX balance, or is
an on-chain TRX transfer to the partner's emergency wallet, verified on chain: the right
recipient, enough, solidified, inside the quote's window, and never used before. The
withdrawal is then sent from the emergency wallet, which holds no stake, so the transfer
burns TRX instead of spending energy an energy pool promised to others.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.tron import SUN_PER_TRX
from partners.models import Customer
from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD, USDT_TRANSFER_ENERGY_WARM
from withdrawals.events import withdrawal_changed
from withdrawals.models import Currency, EmergencyFee, Withdrawal
from withdrawals.selectors import USDT_TRANSFER_BANDWIDTH, emergency_wallet_for
from withdrawals.services.balances import hold_place

Status = Withdrawal.Status


def emergency_quote(
    *, customer: Customer, to_address: str, amount: Decimal, idempotency_key: str | None = None
) -> EmergencyFee:
    """Quote the TRX fee of sending now, and record the withdrawal awaiting payment.

    With `idempotency_key`, a repeat returns the first quote. Raises `ValidationError` when
    the partner has no emergency wallet, and `ChainUnavailable` when no node answers.
    """
    if idempotency_key:
        existing = EmergencyFee.objects.filter(
            withdrawal__partner_id=customer.partner_id,
            withdrawal__idempotency_key=idempotency_key,
        ).first()
        if existing is not None:
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
    with transaction.atomic():
        withdrawal = Withdrawal.objects.create(
            customer=customer,
            partner_id=customer.partner_id,
            pool=wallet,
            to_address=to_address,
            amount=amount,
            mode=Withdrawal.Mode.EMERGENCY,
            energy_estimate=energy,
            idempotency_key=idempotency_key,
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
    *, withdrawal: Withdrawal, paid_with: str, payment_txid: str | None = None
) -> Withdrawal:
    """Take the payment and release the withdrawal to be sent now.

    Idempotent for a withdrawal already paid the same way. Raises `ValidationError` (and
    changes nothing) for an expired quote, missing funds, or a payment that does not verify
    or was used before.
    """
    fee = EmergencyFee.objects.select_related("withdrawal__pool").get(withdrawal=withdrawal)
    if fee.paid_at is not None:
        if (fee.paid_with, fee.payment_txid) == (paid_with, payment_txid or None):
            return Withdrawal.objects.get(pk=withdrawal.pk)
        raise ValidationError({"non_field_errors": ["This withdrawal is already paid."]})
    if fee.expires_at <= timezone.now():
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
            locked = Withdrawal.objects.select_for_update().get(pk=withdrawal.pk)
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
    except IntegrityError:
        raise ValidationError({"payment_txid": ["This payment was already used."]}) from None
    return locked


def emergency_quotes_expire() -> int:
    """Cancel emergency withdrawals whose quote expired unpaid (nothing was held for them)."""
    return Withdrawal.objects.filter(
        mode=Withdrawal.Mode.EMERGENCY,
        status=Status.REQUESTED,
        emergency_fee__paid_at__isnull=True,
        emergency_fee__expires_at__lte=timezone.now(),
    ).update(status=Status.CANCELLED, failure_reason="quote expired unpaid")
