"""Balances and holds: a withdrawal holds funds on request; the hold is settled (the funds
left) or released (they return) exactly once.

Every change is a conditional UPDATE whose row count decides, so concurrent requests can
never spend the same funds twice nor drive a balance negative (the database's CHECK
constraints are the last line).
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Now
from django.utils import timezone

from common.db import db_value
from common.idempotency import claim, ensure_same_request, request_hash
from partners.models import Customer
from withdrawals.models import Balance, Credit, Currency, Hold, Withdrawal


def balance_for(*, customer: Customer, currency: Currency) -> Balance:
    balance, _ = Balance.objects.get_or_create(customer=customer, currency=currency)
    return balance


CREDIT_CLAIM_SCOPE = "credit"


def _credit_hash(*, currency: str, amount: Decimal) -> str:
    return request_hash({"currency": str(currency), "amount": str(amount.normalize())})


@transaction.atomic
def balance_credit(
    *,
    customer: Customer,
    currency: Currency,
    amount: Decimal,
    idempotency_key: str,
    reference: str = "",
) -> tuple[Credit, bool]:
    """Add funds once per (customer, `idempotency_key`): returns (credit, applied now).

    A repeat with the same key, currency and amount returns the first credit and changes
    nothing; the same key with another amount or currency raises `IdempotencyMismatch`, and
    while a twin is being recorded `IdempotencyInFlight` (`common/idempotency.py`). A balance
    that cannot hold the sum is a `ValidationError`, and nothing changes.
    """
    claim(scope=CREDIT_CLAIM_SCOPE, owner_id=customer.pk, key=idempotency_key)
    body_hash = _credit_hash(currency=currency, amount=amount)
    existing = Credit.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
    if existing is None:
        try:
            with transaction.atomic():
                credit = Credit.objects.create(
                    customer=customer,
                    currency=currency,
                    amount=amount,
                    idempotency_key=idempotency_key,
                    reference=reference,
                )
        except IntegrityError:  # without the advisory lock (SQLite) the unique key referees
            existing = Credit.objects.get(customer=customer, idempotency_key=idempotency_key)
        else:
            balance = balance_for(customer=customer, currency=currency)
            try:
                with transaction.atomic():
                    Balance.objects.filter(pk=balance.pk).update(
                        available=F("available") + amount, updated_at=Now()
                    )
            except DataError:  # numeric overflow: the whole credit is rolled back
                raise ValidationError(
                    {"amount": ["The balance would exceed the largest amount it can hold."]},
                    code="balance_limit",
                ) from None
            return credit, True
    ensure_same_request(
        stored_hash=_credit_hash(currency=existing.currency, amount=existing.amount),
        body_hash=body_hash,
        message="This Idempotency-Key was used for a different credit.",
    )
    return existing, False


def hold_place(*, withdrawal: Withdrawal, currency: Currency, amount: Decimal) -> Hold:
    """Move `amount` from available to held for `withdrawal`.

    Raises `ValidationError` on the `amount` field if the balance cannot cover it (or there
    is none); nothing changes then. Must run inside the transaction that creates the
    withdrawal. Two statements, on the hot path of every request: one conditional
    `UPDATE … RETURNING id` on the balance (no ORM equivalent) and the hold's insert.
    """
    now = timezone.now()
    value = db_value(Balance, "available", amount)
    table = connection.ops.quote_name(Balance._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET available = available - %s, held = held + %s, "  # noqa: S608
            "updated_at = %s WHERE customer_id = %s AND currency = %s AND available >= %s "
            "RETURNING id",
            [
                value,
                value,
                db_value(Balance, "updated_at", now),
                withdrawal.customer_id,
                currency,
                value,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        raise insufficient_funds(currency)
    return Hold.objects.create(balance_id=row[0], withdrawal=withdrawal, amount=amount)


def _resolve(hold_id: int, *, settle: bool) -> bool:
    with transaction.atomic():
        hold = Hold.objects.select_for_update().filter(pk=hold_id).first()
        if hold is None or hold.state != Hold.State.HELD:
            return False
        Hold.objects.filter(pk=hold_id).update(
            state=Hold.State.SETTLED if settle else Hold.State.RELEASED, resolved_at=Now()
        )
        change = {"held": F("held") - hold.amount, "updated_at": Now()}
        if not settle:
            change["available"] = F("available") + hold.amount
        Balance.objects.filter(pk=hold.balance_id).update(**change)
    return True


def hold_settle(*, hold_id: int) -> bool:
    """The funds left with the withdrawal. Idempotent: False if already resolved."""
    return _resolve(hold_id, settle=True)


def hold_release(*, hold_id: int) -> bool:
    """The funds return to the available balance. Idempotent: False if already resolved."""
    return _resolve(hold_id, settle=False)


def _holds_in_lock_order(withdrawal_id: int, *, currency: str | None = None) -> list[int]:
    """A withdrawal's holds in the order their balances are locked everywhere: USDT, then
    TRX, as `emergency_confirm` places them. Another order could deadlock against a confirm
    of the same customer's next withdrawal."""
    holds = Hold.objects.filter(withdrawal_id=withdrawal_id)
    if currency is not None:
        holds = holds.filter(balance__currency=currency)
    rank = Case(When(balance__currency=Currency.USDT, then=Value(0)), default=Value(1))
    return list(holds.order_by(rank, "pk").values_list("pk", flat=True))


def withdrawal_holds_settle(*, withdrawal_id: int, currency: Currency | None = None) -> int:
    """Settle the withdrawal's holds (or only those in `currency`); returns how many."""
    return sum(
        hold_settle(hold_id=pk) for pk in _holds_in_lock_order(withdrawal_id, currency=currency)
    )


def withdrawal_holds_release(*, withdrawal_id: int, currency: Currency | None = None) -> int:
    """Release the withdrawal's holds (or only those in `currency`); returns how many."""
    return sum(
        hold_release(hold_id=pk) for pk in _holds_in_lock_order(withdrawal_id, currency=currency)
    )


def insufficient_funds(currency: str) -> ValidationError:
    """The refusal of a hold the balance does not cover (or there is no balance)."""
    return ValidationError(
        {"amount": [f"The {currency} balance does not cover this amount."]},
        code="insufficient_funds",
    )
