"""Partner API: withdrawals (request, list, get, cancel), with their place in the queue."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.pagination import DefaultPagination, paginated_response
from common.api.schema import idempotency_key_header, idempotent_responses
from common.api.serializers import (
    StrictCharField,
    StrictInputSerializer,
    StrictIntegerField,
)
from common.idempotency import parse_key
from common.tron import USDT_DECIMALS, validate_tron_address
from partners.api_base import PartnerAPIView
from withdrawals.apis.fields import usdt_amount
from withdrawals.models import Withdrawal
from withdrawals.selectors import (
    customer_get_for_partner,
    queue_place,
    withdrawal_get_for_partner,
    withdrawal_list_for_partner,
)
from withdrawals.services.requests import withdrawal_cancel, withdrawal_request

KEY_HEADER = idempotency_key_header(
    required=False, description="Optional: a withdrawal is requested once per key."
)


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
        return paginated_response(self, queryset, WithdrawalSummarySerializer)

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
