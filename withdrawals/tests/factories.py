"""Factories for the withdrawals app."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from partners.tests.factories import CustomerFactory, test_address
from withdrawals.models import (
    Attempt,
    Balance,
    Credit,
    Currency,
    EmergencyFee,
    Hold,
    QueueEntry,
    Withdrawal,
)


class WithdrawalFactory(DjangoModelFactory[Withdrawal]):
    class Meta:
        model = Withdrawal

    customer = factory.SubFactory(CustomerFactory, partner=factory.SelfAttribute("..partner"))
    partner = factory.SubFactory("partners.tests.factories.PartnerFactory")
    to_address = factory.Sequence(lambda n: test_address(f"recipient-{n}"))
    amount = Decimal("25.500000")


class AttemptFactory(DjangoModelFactory[Attempt]):
    class Meta:
        model = Attempt

    withdrawal = factory.SubFactory(WithdrawalFactory)
    signed_transaction = factory.LazyAttribute(lambda a: {"txID": a.txid, "signature": []})
    txid = factory.Sequence(lambda n: f"{n:064x}")
    expiration = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=1))
    ref_block_bytes = "0a1b"
    ref_block_hash = "0123456789abcdef"
    fee_limit_sun = 20_000_000


class QueueEntryFactory(DjangoModelFactory[QueueEntry]):
    class Meta:
        model = QueueEntry

    withdrawal = factory.SubFactory(WithdrawalFactory)
    partner = factory.SelfAttribute("withdrawal.partner")
    energy_needed = 64_285
    enqueued_at = factory.LazyFunction(timezone.now)


class EmergencyFeeFactory(DjangoModelFactory[EmergencyFee]):
    class Meta:
        model = EmergencyFee

    withdrawal = factory.SubFactory(WithdrawalFactory, mode=Withdrawal.Mode.EMERGENCY)
    energy_estimate = 130_285
    energy_fee_sun = 100
    bandwidth_estimate = 345
    bandwidth_fee_sun = 1000
    recipient_holds_usdt = False
    quoted_fee_sun = 130_285 * 100 + 345 * 1000
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=5))


class BalanceFactory(DjangoModelFactory[Balance]):
    class Meta:
        model = Balance

    customer = factory.SubFactory(CustomerFactory)
    currency = Currency.USDT
    available = Decimal("1000")


class HoldFactory(DjangoModelFactory[Hold]):
    class Meta:
        model = Hold

    balance = factory.SubFactory(BalanceFactory)
    withdrawal = factory.SubFactory(
        WithdrawalFactory,
        customer=factory.SelfAttribute("..balance.customer"),
        partner=factory.SelfAttribute("..balance.customer.partner"),
    )
    amount = Decimal("25.5")


class CreditFactory(DjangoModelFactory[Credit]):
    class Meta:
        model = Credit

    customer = factory.SubFactory(CustomerFactory)
    currency = Currency.USDT
    amount = Decimal("100")
    idempotency_key = factory.Sequence(lambda n: f"deposit-{n}")
