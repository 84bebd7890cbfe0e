"""Partner API: customers, their credits, and withdrawals (create, list, get, cancel)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.pagination import DefaultPagination
from common.api.schema import idempotency_key_header, idempotent_responses
from common.api.serializers import (
    StrictCharField,
    StrictDecimalField,
    StrictInputSerializer,
    StrictIntegerField,
)
from common.idempotency import parse_key
from common.tron import SUN_PER_TRX, USDT_DECIMALS, validate_tron_address
from partners.api_base import PartnerAPIView
from partners.models import Customer
from partners.services import customer_create
from withdrawals.models import Balance, Currency, EmergencyFee, Withdrawal
from withdrawals.selectors import (
    balances_for_customer,
    customer_get_for_partner,
    customer_list_for_partner,
    energy_status,
    queue_place,
    withdrawal_get_for_partner,
    withdrawal_list_for_partner,
)
from withdrawals.services.balances import balance_credit
from withdrawals.services.emergency import emergency_confirm, emergency_quote
from withdrawals.services.requests import withdrawal_cancel, withdrawal_request

KEY_HEADER = idempotency_key_header(
    required=False, description="Optional: a withdrawal is requested once per key."
)
CREDIT_KEY_HEADER = idempotency_key_header(
    required=True, description="Required: a credit is applied once per key."
)
EMERGENCY_KEY_HEADER = idempotency_key_header(
    required=False,
    description="Optional, for `quote`: one quote per key (keys shared with withdrawals). "
    "A `confirm` is idempotent by its withdrawal: the same payment again is the stored "
    "answer, another payment for a paid withdrawal 422, a twin confirm in flight 409.",
)


# More than all the USDT (and TRX) there is: a bound far below what a balance column holds.
MAX_AMOUNT = Decimal(10**15)


def usdt_amount() -> StrictDecimalField:
    return StrictDecimalField(
        max_digits=24,
        decimal_places=USDT_DECIMALS,
        min_value=Decimal("0.000001"),
        max_value=MAX_AMOUNT,
    )


# --- customers ----------------------------------------------------------------------------


class CustomerCreateInputSerializer(StrictInputSerializer):
    external_ref = StrictCharField(
        max_length=100,
        validators=[RegexValidator(r"^[A-Za-z0-9_.-]+$", "Letters, digits, _ . - only.")],
    )


class BalanceSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Balance
        fields = ["currency", "available", "held"]


class CustomerSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Customer
        fields = ["id", "external_ref", "created_at"]


class CustomerDetailSerializer(CustomerSerializer):
    balances = serializers.SerializerMethodField()

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "balances"]

    @extend_schema_field(BalanceSerializer(many=True))
    def get_balances(self, customer: Customer) -> list[dict[str, object]]:
        return list(BalanceSerializer(balances_for_customer(customer=customer), many=True).data)


class CustomerListApi(PartnerAPIView):
    """The partner's end users. Operators and owners add them."""

    # Lists are paginated: this tells the schema so (drf-spectacular reads it).
    pagination_class = DefaultPagination

    @extend_schema(responses=CustomerSerializer(many=True), operation_id="customers_list")
    def get(self, request: Request) -> Response:
        paginator = DefaultPagination()
        page: list[Customer] | None = paginator.paginate_queryset(
            customer_list_for_partner(caller=self.caller), request, view=self
        )
        return paginator.get_paginated_response(CustomerSerializer(page, many=True).data)

    @extend_schema(
        request=CustomerCreateInputSerializer,
        responses={201: CustomerDetailSerializer},
        operation_id="customers_create",
    )
    def post(self, request: Request) -> Response:
        serializer = CustomerCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = customer_create(
            partner=self.caller.partner, external_ref=serializer.validated_data["external_ref"]
        )
        return Response(CustomerDetailSerializer(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetailApi(PartnerAPIView):
    @extend_schema(responses=CustomerDetailSerializer, operation_id="customers_retrieve")
    def get(self, request: Request, customer_id: int) -> Response:
        customer = customer_get_for_partner(caller=self.caller, customer_id=customer_id)
        return Response(CustomerDetailSerializer(customer).data)


class CreditInputSerializer(StrictInputSerializer):
    currency = serializers.ChoiceField(choices=Currency.choices)
    amount = usdt_amount()
    reference = StrictCharField(max_length=255, required=False, allow_blank=True)


class CreditApi(PartnerAPIView):
    """Credit a customer's balance (a deposit the partner received). Idempotent by key."""

    @extend_schema(
        request=CreditInputSerializer,
        parameters=[CREDIT_KEY_HEADER],
        responses=idempotent_responses(
            {201: CustomerDetailSerializer, 200: CustomerDetailSerializer}, key_required=True
        ),
        operation_id="customers_credit",
    )
    def post(self, request: Request, customer_id: int) -> Response:
        customer = customer_get_for_partner(caller=self.caller, customer_id=customer_id)
        serializer = CreditInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = parse_key(request.headers, required=True)
        assert key is not None
        data = serializer.validated_data
        _, applied = balance_credit(
            customer=customer,
            currency=data["currency"],
            amount=data["amount"],
            idempotency_key=key,
            reference=data.get("reference", ""),
        )
        code = status.HTTP_201_CREATED if applied else status.HTTP_200_OK
        return Response(CustomerDetailSerializer(customer).data, status=code)


# --- withdrawals --------------------------------------------------------------------------


class WithdrawalCreateInputSerializer(StrictInputSerializer):
    customer_id = StrictIntegerField(min_value=1)
    to_address = StrictCharField(max_length=64, validators=[validate_tron_address])
    amount = usdt_amount()


class WithdrawalSummarySerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A withdrawal in a list: no derived queue place (that costs queries per row)."""

    class Meta:
        model = Withdrawal
        fields = [
            "id",
            "customer",
            "to_address",
            "amount",
            "mode",
            "status",
            "pool",
            "energy_estimate",
            "energy_used",
            "trx_burned_sun",
            "failure_reason",
            "created_at",
            "confirmed_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "pool": {
                "help_text": "The pool that reserves energy for it and sends it; null while "
                "it waits in the partner's queue, which all of the partner's pools serve."
            }
        }

    def to_representation(self, instance: Withdrawal) -> dict[str, Any]:
        """The declared fields, written out by hand: DRF's field-by-field walk was a tenth
        of a withdrawal request's time (bench/intake.py). A test holds the two equal
        (withdrawals/tests/test_intake_paths.py)."""
        w = instance
        return {
            "id": w.pk,
            "customer": w.customer_id,
            "to_address": w.to_address,
            "amount": _AMOUNT.to_representation(w.amount),
            "mode": w.mode,
            "status": w.status,
            "pool": w.pool_id,
            "energy_estimate": w.energy_estimate,
            "energy_used": w.energy_used,
            "trx_burned_sun": w.trx_burned_sun,
            "failure_reason": w.failure_reason,
            "created_at": _DATETIME.to_representation(w.created_at),
            "confirmed_at": (
                None if w.confirmed_at is None else _DATETIME.to_representation(w.confirmed_at)
            ),
        }


_AMOUNT = serializers.DecimalField(max_digits=24, decimal_places=USDT_DECIMALS)
_DATETIME = serializers.DateTimeField()


class QueuePlaceSerializer(serializers.Serializer):  # type: ignore[type-arg]
    position = serializers.IntegerField(help_text="In the partner's queue; 1 is next")
    energy_ahead = serializers.IntegerField(help_text="Energy needed up to and with this one")
    wait_seconds = serializers.IntegerField(
        help_text="Until the partner's pools have regrown the energy ahead, at their summed "
        "regeneration rate, less what is free now; -1 when no pool could cover it"
    )


class WithdrawalSerializer(WithdrawalSummarySerializer):
    """One withdrawal, with its place in the queue while it waits."""

    queue = serializers.SerializerMethodField()

    class Meta(WithdrawalSummarySerializer.Meta):
        fields = [*WithdrawalSummarySerializer.Meta.fields, "queue"]
        read_only_fields = fields

    def to_representation(self, instance: Withdrawal) -> dict[str, Any]:
        return {**super().to_representation(instance), "queue": self.get_queue(instance)}

    @extend_schema_field(QueuePlaceSerializer(allow_null=True))
    def get_queue(self, withdrawal: Withdrawal) -> dict[str, int] | None:
        if withdrawal.status != Withdrawal.Status.QUEUED:
            return None
        place = queue_place(withdrawal=withdrawal)
        if place is None:
            return None
        return {
            "position": place.position,
            "energy_ahead": place.energy_ahead,
            "wait_seconds": place.wait_seconds,
        }


class WithdrawalListApi(PartnerAPIView):
    """The partner's withdrawals, newest first; owners and operators request new ones."""

    # Lists are paginated: this tells the schema so (drf-spectacular reads it).
    pagination_class = DefaultPagination

    @extend_schema(
        parameters=[OpenApiParameter("status", str, required=False)],
        responses=WithdrawalSerializer(many=True),
        operation_id="withdrawals_list",
    )
    def get(self, request: Request) -> Response:
        queryset = withdrawal_list_for_partner(caller=self.caller)
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in Withdrawal.Status.values:
                raise ValidationError({"status": [f"Unknown status {wanted!r}."]})
            queryset = queryset.filter(status=wanted)
        paginator = DefaultPagination()
        page: list[Withdrawal] | None = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(WithdrawalSummarySerializer(page, many=True).data)

    @extend_schema(
        request=WithdrawalCreateInputSerializer,
        parameters=[KEY_HEADER],
        responses=idempotent_responses(
            {201: WithdrawalSerializer, 200: WithdrawalSerializer}, key_required=False
        ),
        operation_id="withdrawals_create",
    )
    def post(self, request: Request) -> Response:
        serializer = WithdrawalCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key = parse_key(request.headers, required=False)
        customer = customer_get_for_partner(caller=self.caller, customer_id=data["customer_id"])
        withdrawal, created = withdrawal_request(
            customer=customer,
            to_address=data["to_address"],
            amount=data["amount"],
            idempotency_key=key,
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(WithdrawalSerializer(withdrawal).data, status=code)


class WithdrawalDetailApi(PartnerAPIView):
    @extend_schema(responses=WithdrawalSerializer, operation_id="withdrawals_retrieve")
    def get(self, request: Request, withdrawal_id: int) -> Response:
        withdrawal = withdrawal_get_for_partner(caller=self.caller, withdrawal_id=withdrawal_id)
        return Response(WithdrawalSerializer(withdrawal).data)


class WithdrawalCancelApi(PartnerAPIView):
    """Cancel a withdrawal nothing was signed for; its funds and energy are released."""

    @extend_schema(request=None, responses=WithdrawalSerializer, operation_id="withdrawals_cancel")
    def post(self, request: Request, withdrawal_id: int) -> Response:
        withdrawal = withdrawal_get_for_partner(caller=self.caller, withdrawal_id=withdrawal_id)
        withdrawal = withdrawal_cancel(withdrawal=withdrawal)
        return Response(WithdrawalSerializer(withdrawal).data)


@extend_schema(exclude=True)
class WithdrawalListSlashApi(WithdrawalListApi):
    """`/withdrawals/` as well as `/withdrawals`: one operation, documented once."""


class EnergyStatusSerializer(serializers.Serializer):  # type: ignore[type-arg]
    available_energy = serializers.IntegerField(
        help_text="Free over all of the partner's pools that send withdrawals"
    )
    daily_consumption = serializers.IntegerField(help_text="Those pools' last week, per day")
    energy_sufficient = serializers.BooleanField(
        help_text="A transfer to a new holder fits one pool now and nobody is queued"
    )
    estimated_wait_time = serializers.IntegerField(
        help_text="Minutes, at the pools' summed regeneration rate; 0 when sufficient, "
        "-1 when no pool regenerates"
    )
    queue_position = serializers.IntegerField(
        help_text="Where a new request would wait in the partner's queue; 0 when sufficient"
    )
    emergency_fee_trx = serializers.DecimalField(max_digits=18, decimal_places=6)
    alert_message = serializers.CharField(allow_null=True)


class EnergyStatusApi(PartnerAPIView):
    """Whether a withdrawal requested now goes fee-free, or waits (and how long)."""

    @extend_schema(responses=EnergyStatusSerializer, operation_id="energy_status")
    def get(self, request: Request) -> Response:
        return Response(
            EnergyStatusSerializer(energy_status(partner_id=self.caller.partner.pk)).data
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
