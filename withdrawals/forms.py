"""Forms of the end-user pages."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from common.tron import USDT_DECIMALS, validate_tron_address
from withdrawals.models import EmergencyFee, Withdrawal

TXID = re.compile(r"[0-9a-f]{64}")


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
    # Which button was pressed: wait for pool energy, or pay the fee and go now. Enter in a
    # field presses the first, the standard one.
    mode = forms.ChoiceField(
        choices=[(Withdrawal.Mode.STANDARD, ""), (Withdrawal.Mode.EMERGENCY, "")],
        required=False,
    )
    # One token per rendered form: a double submit is the same request, sent once.
    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def clean_mode(self) -> Withdrawal.Mode:
        return Withdrawal.Mode(self.cleaned_data.get("mode") or Withdrawal.Mode.STANDARD)


class EmergencyPaymentForm(forms.Form):
    """How the user pays an emergency withdrawal's fee: from the TRX balance, or with a TRX
    transfer on chain whose transaction id they give."""

    paid_with = forms.ChoiceField(choices=EmergencyFee.PaidWith.choices)
    payment_txid = forms.CharField(
        label=_("Transaction ID of your payment"), required=False, max_length=80
    )

    def clean_payment_txid(self) -> str:
        # Wallets and explorers show it in either case; the chain's form is lower case.
        txid = str(self.cleaned_data.get("payment_txid") or "").lower()
        if txid and not TXID.fullmatch(txid):
            raise forms.ValidationError(
                _("A transaction ID is 64 characters, 0-9 and a-f."), code="invalid_txid"
            )
        return txid

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        paid_with = data.get("paid_with")
        if paid_with == EmergencyFee.PaidWith.ONCHAIN and not data.get("payment_txid"):
            if "payment_txid" not in self.errors:
                self.add_error("payment_txid", _("Enter the transaction ID of your TRX payment."))
        elif paid_with == EmergencyFee.PaidWith.BALANCE:
            data["payment_txid"] = ""
        return data
