"""Input fields the withdrawals API shares: amounts as the schema states them."""

from __future__ import annotations

from decimal import Decimal

from common.api.serializers import (
    StrictDecimalField,
)
from common.tron import USDT_DECIMALS

# More than all the USDT (and TRX) there is: a bound far below what a balance column holds.
MAX_AMOUNT = Decimal(10**15)


def usdt_amount() -> StrictDecimalField:
    return StrictDecimalField(
        max_digits=24,
        decimal_places=USDT_DECIMALS,
        min_value=Decimal("0.000001"),
        max_value=MAX_AMOUNT,
    )
