"""Forms of the end-user pages."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from common.tron import USDT_DECIMALS, validate_tron_address


class WithdrawalForm(forms.Form):
    to_address = forms.CharField(
        label=_("Recipient TRON address"), max_length=64, validators=[validate_tron_address]
    )
    amount = forms.DecimalField(
        label=_("Amount (USDT)"),
        min_value=Decimal("0.000001"),
        max_digits=24,
        decimal_places=USDT_DECIMALS,
    )
    # One token per rendered form: a double submit is the same request, sent once.
    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)
