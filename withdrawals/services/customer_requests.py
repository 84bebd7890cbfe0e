"""A customer's requests as one call each, every refusal as one exception.

The pages call these (and the API can: the same operations, the same refusals). A request
is a standard withdrawal (energy reserved, or queued) or an emergency one (a fee quote, paid
next from the TRX balance or on chain). What the underlying services raise when they refuse
(`ValidationError`, the key's `IdempotencyMismatch` and `IdempotencyInFlight`, a node's
`DependencyUnavailable`) arrives as one `Refused`, which says by its `code` whether the
same request may simply be sent again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Literal

from django.core.exceptions import ValidationError

from common.errors import DependencyUnavailable
from common.idempotency import IdempotencyInFlight, IdempotencyMismatch
from partners.models import Customer
from withdrawals.models import EmergencyFee, Withdrawal
from withdrawals.services.emergency import emergency_confirm, emergency_quote
from withdrawals.services.requests import withdrawal_request

RefusalCode = Literal["invalid", "mismatch", "in_flight", "unavailable"]
NON_FIELD = "non_field_errors"


class Refused(Exception):
    """A request that was not carried out; nothing changed because of it.

    `code`: `invalid` (the request itself: `errors` by field, `non_field_errors` for the
    whole), `mismatch` (the key was used for another request), `in_flight` (the same
    request is being processed now) or `unavailable` (a node did not answer). After
    `in_flight` and `unavailable` the same request, with the same key, may be sent again
    (`same_key_again`): it may be going through, and sending it again must find it. After
    the others, a corrected request is a new one and needs a new key.
    """

    def __init__(self, code: RefusalCode, errors: dict[str, list[str]]) -> None:
        super().__init__(code, errors)
        self.code: RefusalCode = code
        self.errors = errors

    @property
    def same_key_again(self) -> bool:
        return self.code in ("in_flight", "unavailable")


@contextmanager
def _refusals(
    mismatch: str = "This request was already sent with other details.",
) -> Iterator[None]:
    try:
        yield
    except IdempotencyInFlight:
        raise Refused("in_flight", {NON_FIELD: ["This request is being processed."]}) from None
    except DependencyUnavailable:
        raise Refused("unavailable", {NON_FIELD: ["The network is not answering."]}) from None
    except IdempotencyMismatch:
        raise Refused("mismatch", {NON_FIELD: [mismatch]}) from None
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD: exc.messages}
        by_field = {field: list(messages) for field, messages in errors.items()}
        raise Refused("invalid", by_field) from None


def withdrawal_submit(
    *,
    customer: Customer,
    to_address: str,
    amount: Decimal,
    mode: Withdrawal.Mode,
    idempotency_key: str,
) -> Withdrawal:
    """Ask for a withdrawal of `amount` USDT to `to_address`, once per `idempotency_key`.

    Standard: the amount is held and energy reserved, or the withdrawal queued
    (`withdrawal_request`). Emergency: the fee is quoted and the withdrawal waits for its
    payment (`emergency_quote`; then `emergency_pay`). The same request sent again with
    the same key returns the same withdrawal. Raises `Refused`.
    """
    with _refusals():
        if mode == Withdrawal.Mode.EMERGENCY:
            fee = emergency_quote(
                customer=customer,
                to_address=to_address,
                amount=amount,
                idempotency_key=idempotency_key,
            )
            return fee.withdrawal
        withdrawal, _ = withdrawal_request(
            customer=customer, to_address=to_address, amount=amount, idempotency_key=idempotency_key
        )
    return withdrawal


def emergency_pay(
    *,
    withdrawal: Withdrawal,
    paid_with: EmergencyFee.PaidWith,
    payment_txid: str | None = None,
) -> Withdrawal:
    """Pay an emergency withdrawal's quoted fee, from the customer's TRX balance or with
    the on-chain TRX payment `payment_txid` (verified on chain), and let it go now.

    The caller scopes `withdrawal` to its customer or partner. Paying again the same way
    returns the same withdrawal. Raises `Refused` (a standard withdrawal, an expired quote,
    a balance short of the fee, a payment that does not verify or was used before; an
    on-chain payment for a withdrawal cancelled meanwhile is credited to the TRX balance
    and still refused, saying so).
    """
    if withdrawal.mode != Withdrawal.Mode.EMERGENCY:
        raise Refused("invalid", {NON_FIELD: ["Not an emergency withdrawal."]})
    with _refusals(mismatch="This withdrawal is already paid."):
        return emergency_confirm(
            withdrawal=withdrawal, paid_with=paid_with, payment_txid=payment_txid
        )
