"""Partner API: the partner's customers (end users), with their balances."""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.pagination import DefaultPagination, paginated_response
from common.api.serializers import (
    StrictCharField,
    StrictInputSerializer,
)
from partners.api_base import PartnerAPIView
from partners.models import Customer
from partners.services import customer_create
from withdrawals.models import Balance
from withdrawals.selectors import (
    balances_for_customer,
    customer_get_for_partner,
    customer_list_for_partner,
)


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
        return paginated_response(
            self, customer_list_for_partner(caller=self.caller), CustomerSerializer
        )

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
