"""Model fields shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import models

from common.tron import validate_tron_address


class TronAddressField(models.CharField):  # type: ignore[type-arg]  # stubs: CharField generics
    """A base58 TRON address (34 characters), validated on full_clean."""

    default_validators = [validate_tron_address]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 34)
        super().__init__(*args, **kwargs)


def token_amount_field(**kwargs: Any) -> models.DecimalField:  # type: ignore[type-arg]
    """USDT and TRX amounts: 6 decimal places, as on chain."""
    kwargs.setdefault("max_digits", 24)
    kwargs.setdefault("decimal_places", 6)
    return models.DecimalField(**kwargs)
