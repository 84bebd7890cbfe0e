"""Partner API: the rental orders the automatic top-up placed for the partner's pools (reads)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.pagination import DefaultPagination, paginated_response
from partners.api_base import PartnerAPIView
from pools.models import RentalOrder
from pools.selectors import rental_order_get_for_partner, rental_orders_for_partner


class RentalOrderOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    payment_txid = serializers.CharField(source="payment.txid", default="", read_only=True)

    class Meta:
        model = RentalOrder
        fields = [
            "id",
            "pool",
            "provider",
            "state",
            "reason",
            "energy",
            "days",
            "price_sun",
            "burn_price_sun",
            "cost_sun",
            "pay_to",
            "payment_txid",
            "market_order_id",
            "delegate_txid",
            "refund_txid",
            "result",
            "created_at",
            "ordered_at",
            "delivered_at",
            "expires_at",
            "ended_at",
        ]
        read_only_fields = fields


class RentalOrderListApi(PartnerAPIView):
    """Energy rented for the partner's pools, newest first."""

    pagination_class = DefaultPagination

    @extend_schema(
        responses=RentalOrderOutputSerializer(many=True), operation_id="rental_orders_list"
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            self, rental_orders_for_partner(caller=self.caller), RentalOrderOutputSerializer
        )


class RentalOrderDetailApi(PartnerAPIView):
    """One rental order of the partner's; any other is a 404."""

    @extend_schema(responses=RentalOrderOutputSerializer, operation_id="rental_orders_detail")
    def get(self, request: Request, rental_order_id: int) -> Response:
        order = rental_order_get_for_partner(caller=self.caller, order_id=rental_order_id)
        return Response(RentalOrderOutputSerializer(order).data)
