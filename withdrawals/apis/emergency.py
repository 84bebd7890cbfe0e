"""Partner API: emergency withdrawals, which pay the network fee in TRX and go now."""

from __future__ import annotations

from decimal import Decimal

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
from withdrawals.apis.fields import usdt_amount
from withdrawals.apis.withdrawals import WithdrawalSerializer
from withdrawals.models import EmergencyFee, Withdrawal
from withdrawals.selectors import (
    customer_get_for_partner,
    withdrawal_get_for_partner,
)
from withdrawals.services.emergency import emergency_confirm, emergency_quote

EMERGENCY_KEY_HEADER = idempotency_key_header(
    required=False,
    description="Optional, for `quote`: one quote per key (keys shared with withdrawals). "
    "A `confirm` is idempotent by its withdrawal: the same payment again is the stored "
    "answer, another payment for a paid withdrawal 422, a twin confirm in flight 409.",
)


class EmergencyQuoteInputSerializer(StrictInputSerializer):
    action = serializers.ChoiceField(choices=["quote"])
    customer_id = StrictIntegerField(min_value=1)
    to_address = StrictCharField(max_length=64, validators=[validate_tron_address])
    amount = usdt_amount()


class EmergencyConfirmInputSerializer(StrictInputSerializer):
    action = serializers.ChoiceField(choices=["confirm"])
    withdrawal_id = StrictIntegerField(min_value=1)
    paid_with = serializers.ChoiceField(choices=EmergencyFee.PaidWith.choices)
    payment_txid = StrictCharField(
        required=False, validators=[RegexValidator(r"^[0-9a-f]{64}$", "64 hex digits.")]
    )


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


class EmergencyWithdrawalApi(PartnerAPIView):
    """Pay the network fee in TRX and go now. `action: quote` states the fee and its inputs
    (valid for a few minutes); `action: confirm` pays it from the user's TRX balance or with
    an on-chain TRX payment to `pay_to`, verified on chain, and sends the withdrawal."""

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
    )
    def post(self, request: Request) -> Response:
        key = parse_key(request.headers, required=False)
        action = request.data.get("action") if isinstance(request.data, dict) else None
        if action == "confirm":
            confirm = EmergencyConfirmInputSerializer(data=request.data)
            confirm.is_valid(raise_exception=True)
            data = confirm.validated_data
            withdrawal = withdrawal_get_for_partner(
                caller=self.caller, withdrawal_id=data["withdrawal_id"]
            )
            if withdrawal.mode != Withdrawal.Mode.EMERGENCY:
                raise ValidationError({"withdrawal_id": ["Not an emergency withdrawal."]})
            emergency_confirm(
                withdrawal=withdrawal,
                paid_with=data["paid_with"],
                payment_txid=data.get("payment_txid"),
            )
            fee = EmergencyFee.objects.select_related("withdrawal__pool").get(withdrawal=withdrawal)
            return Response(EmergencyFeeSerializer(fee).data)
        quote = EmergencyQuoteInputSerializer(data=request.data)
        quote.is_valid(raise_exception=True)
        data = quote.validated_data
        customer = customer_get_for_partner(caller=self.caller, customer_id=data["customer_id"])
        fee = emergency_quote(
            customer=customer,
            to_address=data["to_address"],
            amount=data["amount"],
            idempotency_key=key,
        )
        return Response(EmergencyFeeSerializer(fee).data, status=status.HTTP_201_CREATED)
