"""Partner API: emergency withdrawals, which pay the network fee in TRX and go now."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.schema import idempotency_key_header, idempotent_responses
from common.api.serializers import (
    StrictCharField,
    StrictInputSerializer,
    StrictIntegerField,
)
from common.idempotency import parse_key
from common.tron import SUN_PER_TRX, validate_tron_address
from partners.api_base import PartnerAPIView
from partners.selectors import Caller
from withdrawals.apis.fields import usdt_amount
from withdrawals.apis.withdrawals import WithdrawalSerializer
from withdrawals.models import EmergencyFee, Withdrawal
from withdrawals.selectors import (
    customer_get_for_partner,
    emergency_fee_for,
    withdrawal_get_for_partner,
)
from withdrawals.services.emergency import emergency_confirm, emergency_quote

QUOTE_KEY_HEADER = idempotency_key_header(
    required=False,
    description="Optional: one quote per key (keys shared with withdrawals).",
)
CONFIRM_KEY_HEADER = idempotency_key_header(
    required=False,
    description="Not needed: a confirm is idempotent by its withdrawal, which stands for the "
    "key below (the same payment again is the stored answer, another payment for a paid "
    "withdrawal 422, a twin confirm in flight 409); a key sent is checked for its form only.",
)
EMERGENCY_KEY_HEADER = idempotency_key_header(
    required=False,
    description="Optional, for `quote`: one quote per key (keys shared with withdrawals). "
    "A `confirm` is idempotent by its withdrawal: the same payment again is the stored "
    "answer, another payment for a paid withdrawal 422, a twin confirm in flight 409.",
)


class EmergencyQuoteBodySerializer(StrictInputSerializer):
    customer_id = StrictIntegerField(min_value=1)
    to_address = StrictCharField(max_length=64, validators=[validate_tron_address])
    amount = usdt_amount()


class EmergencyConfirmBodySerializer(StrictInputSerializer):
    withdrawal_id = StrictIntegerField(min_value=1)
    paid_with = serializers.ChoiceField(choices=EmergencyFee.PaidWith.choices)
    payment_txid = StrictCharField(
        required=False, validators=[RegexValidator(r"^[0-9a-f]{64}$", "64 hex digits.")]
    )


class EmergencyQuoteInputSerializer(EmergencyQuoteBodySerializer):
    """The deprecated combined endpoint's quote: the same body, with `action`."""

    action = serializers.ChoiceField(choices=["quote"])


class EmergencyConfirmInputSerializer(EmergencyConfirmBodySerializer):
    """The deprecated combined endpoint's confirm: the same body, with `action`."""

    action = serializers.ChoiceField(choices=["confirm"])


class EmergencyFeeSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    withdrawal = WithdrawalSerializer()
    quoted_fee_trx = serializers.SerializerMethodField()
    pay_to = serializers.CharField(source="withdrawal.pool.address")

    class Meta:
        model = EmergencyFee
        fields = [
            "withdrawal",
            "energy_estimate",
            "energy_fee_sun",
            "bandwidth_estimate",
            "bandwidth_fee_sun",
            "recipient_holds_usdt",
            "quoted_fee_sun",
            "quoted_fee_trx",
            "pay_to",
            "expires_at",
            "paid_with",
            "payment_txid",
            "paid_at",
        ]

    def get_quoted_fee_trx(self, fee: EmergencyFee) -> str:
        return f"{Decimal(fee.quoted_fee_sun) / SUN_PER_TRX:.6f}"


def _quote(caller: Caller, data: dict[str, Any], key: str | None) -> Response:
    customer = customer_get_for_partner(caller=caller, customer_id=data["customer_id"])
    fee = emergency_quote(
        customer=customer,
        to_address=data["to_address"],
        amount=data["amount"],
        idempotency_key=key,
    )
    return Response(EmergencyFeeSerializer(fee).data, status=status.HTTP_201_CREATED)


def _confirm(caller: Caller, data: dict[str, Any]) -> Response:
    withdrawal = withdrawal_get_for_partner(caller=caller, withdrawal_id=data["withdrawal_id"])
    if withdrawal.mode != Withdrawal.Mode.EMERGENCY:
        raise ValidationError({"withdrawal_id": ["Not an emergency withdrawal."]})
    emergency_confirm(
        withdrawal=withdrawal,
        paid_with=EmergencyFee.PaidWith(data["paid_with"]),
        payment_txid=data.get("payment_txid"),
    )
    fee = emergency_fee_for(withdrawal=withdrawal)
    assert fee is not None  # an emergency withdrawal is made with its quote
    return Response(EmergencyFeeSerializer(fee).data)


class EmergencyQuoteApi(PartnerAPIView):
    """Quote an emergency withdrawal: the network fee in TRX and its inputs, valid for a few
    minutes. The customer's USDT is not held until the fee is paid (confirm)."""

    @extend_schema(
        request=EmergencyQuoteBodySerializer,
        parameters=[QUOTE_KEY_HEADER],
        responses=idempotent_responses({201: EmergencyFeeSerializer}, key_required=False),
        operation_id="energy_emergency_quote",
    )
    def post(self, request: Request) -> Response:
        key = parse_key(request.headers, required=False)
        serializer = EmergencyQuoteBodySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _quote(self.caller, serializer.validated_data, key)


class EmergencyConfirmApi(PartnerAPIView):
    """Pay a quoted fee, from the user's TRX balance or with an on-chain TRX payment to
    `pay_to` (verified on chain), and send the withdrawal now."""

    @extend_schema(
        request=EmergencyConfirmBodySerializer,
        parameters=[CONFIRM_KEY_HEADER],
        responses=idempotent_responses({200: EmergencyFeeSerializer}, key_required=False),
        operation_id="energy_emergency_confirm",
    )
    def post(self, request: Request) -> Response:
        parse_key(request.headers, required=False)
        serializer = EmergencyConfirmBodySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _confirm(self.caller, serializer.validated_data)


class EmergencyWithdrawalApi(PartnerAPIView):
    """Deprecated: the quote and the confirm at one address, chosen by `action` (kept for
    existing clients; `…/quote` and `…/confirm` are the same operations)."""

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="EmergencyWithdrawalRequest",
            serializers={
                "quote": EmergencyQuoteInputSerializer,
                "confirm": EmergencyConfirmInputSerializer,
            },
            resource_type_field_name="action",
        ),
        parameters=[EMERGENCY_KEY_HEADER],
        responses=idempotent_responses(
            {201: EmergencyFeeSerializer, 200: EmergencyFeeSerializer}, key_required=False
        ),
        operation_id="energy_emergency_withdrawal",
        deprecated=True,
    )
    def post(self, request: Request) -> Response:
        key = parse_key(request.headers, required=False)
        action = request.data.get("action") if isinstance(request.data, dict) else None
        if action == "confirm":
            confirm = EmergencyConfirmInputSerializer(data=request.data)
            confirm.is_valid(raise_exception=True)
            return _confirm(self.caller, confirm.validated_data)
        quote = EmergencyQuoteInputSerializer(data=request.data)
        quote.is_valid(raise_exception=True)
        return _quote(self.caller, quote.validated_data, key)
