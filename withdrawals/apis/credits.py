"""Partner API: credit a customer's balance, once per Idempotency-Key."""

from __future__ import annotations

from drf_spectacular.utils import (
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.schema import idempotency_key_header, idempotent_responses
from common.api.serializers import (
    StrictCharField,
    StrictInputSerializer,
)
from common.idempotency import parse_key
from partners.api_base import PartnerAPIView
from withdrawals.apis.customers import CustomerDetailSerializer
from withdrawals.apis.fields import usdt_amount
from withdrawals.models import Currency
from withdrawals.selectors import (
    customer_get_for_partner,
)
from withdrawals.services.balances import balance_credit

CREDIT_KEY_HEADER = idempotency_key_header(
    required=True, description="Required: a credit is applied once per key."
)


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
