"""Credits apply once; holds never overspend and resolve exactly once."""

import contextlib
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from common.idempotency import IdempotencyInFlight, IdempotencyMismatch
from partners.tests.factories import CustomerFactory
from withdrawals.models import Balance, Credit, Hold
from withdrawals.services.balances import (
    balance_credit,
    hold_place,
    hold_release,
    hold_settle,
)
from withdrawals.tests.factories import WithdrawalFactory


def balance(customer, currency="USDT"):
    row = Balance.objects.get(customer=customer, currency=currency)
    return row.available, row.held


@pytest.mark.django_db
class TestBalances:
    def test_credit_applies_once_per_key(self):
        customer = CustomerFactory()
        _, applied = balance_credit(
            customer=customer, currency="USDT", amount=Decimal("100"), idempotency_key="dep-1"
        )
        _, again = balance_credit(
            customer=customer, currency="USDT", amount=Decimal("100"), idempotency_key="dep-1"
        )
        assert (applied, again) == (True, False)
        assert balance(customer) == (Decimal("100"), Decimal("0"))
        with pytest.raises(IdempotencyMismatch):
            balance_credit(
                customer=customer, currency="USDT", amount=Decimal("5"), idempotency_key="dep-1"
            )
        assert balance(customer) == (Decimal("100"), Decimal("0"))

    def test_hold_then_settle_or_release_once(self):
        customer = CustomerFactory()
        balance_credit(
            customer=customer, currency="USDT", amount=Decimal("100"), idempotency_key="dep"
        )
        first = hold_place(
            withdrawal=WithdrawalFactory(customer=customer, partner=customer.partner),
            currency="USDT",
            amount=Decimal("30"),
        )
        second = hold_place(
            withdrawal=WithdrawalFactory(customer=customer, partner=customer.partner),
            currency="USDT",
            amount=Decimal("20"),
        )
        assert balance(customer) == (Decimal("50"), Decimal("50"))
        assert hold_settle(hold_id=first.pk)
        assert not hold_settle(hold_id=first.pk)
        assert not hold_release(hold_id=first.pk)
        assert hold_release(hold_id=second.pk)
        assert not hold_release(hold_id=second.pk)
        assert balance(customer) == (Decimal("70"), Decimal("0"))
        assert set(Hold.objects.values_list("state", flat=True)) == {"settled", "released"}

    def test_hold_beyond_the_balance_changes_nothing(self):
        customer = CustomerFactory()
        balance_credit(
            customer=customer, currency="USDT", amount=Decimal("10"), idempotency_key="dep"
        )
        with pytest.raises(ValidationError) as info:
            hold_place(
                withdrawal=WithdrawalFactory(customer=customer, partner=customer.partner),
                currency="USDT",
                amount=Decimal("10.000001"),
            )
        assert "amount" in info.value.message_dict
        assert balance(customer) == (Decimal("10"), Decimal("0"))
        assert not Hold.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_holds_never_overspend_and_credits_apply_once():
    customer = CustomerFactory()
    withdrawals = [
        WithdrawalFactory(customer=customer, partner=customer.partner) for _ in range(12)
    ]
    credited = threading.Barrier(12)
    hold_now = threading.Barrier(12)
    placed = []

    def credit_and_hold(withdrawal):
        try:
            credited.wait()
            # A twin still recording the same credit is refused as in flight, not waited for.
            with contextlib.suppress(IdempotencyInFlight):
                balance_credit(
                    customer=customer,
                    currency="USDT",
                    amount=Decimal("50"),
                    idempotency_key="same-deposit",
                )
            hold_now.wait()  # every credit attempt is done: then all race for the funds
            with contextlib.suppress(ValidationError):
                placed.append(
                    hold_place(withdrawal=withdrawal, currency="USDT", amount=Decimal("10"))
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=credit_and_hold, args=(w,)) for w in withdrawals]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Credit.objects.count() == 1
    assert len(placed) == 5
    assert balance(customer) == (Decimal("0"), Decimal("50"))
