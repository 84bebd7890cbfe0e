"""Partner API: stake quotes and Stake 2.0 operations on a custodial pool."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.pagination import paginated_response
from common.api.schema import idempotency_key_header, idempotent_responses
from common.api.serializers import (
    StrictCharField,
    StrictDecimalField,
    StrictInputSerializer,
    StrictIntegerField,
)
from common.idempotency import parse_key
from common.tron import SUN_PER_TRX
from partners.api_base import PartnerAPIView
from partners.models import Role
from pools.models import StakingOperation
from pools.selectors import pool_get_for_partner, staking_operations_for_pool
from pools.services.staking import staking_quote, staking_submit


def trx_amount(*, required: bool = True) -> StrictDecimalField:
    return StrictDecimalField(
        max_digits=18, decimal_places=6, min_value=Decimal("0.000001"), required=required
    )


def to_sun(trx: Decimal | None) -> int | None:
    return None if trx is None else int(trx * SUN_PER_TRX)


class StakeQuoteInputSerializer(StrictInputSerializer):
    amount_trx = trx_amount()


class StakeQuoteOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    amount_sun = serializers.IntegerField()
    energy_limit_now = serializers.IntegerField()
    energy_limit_after = serializers.IntegerField()
    energy_gain = serializers.IntegerField()
    total_energy_limit = serializers.IntegerField()
    total_energy_weight = serializers.IntegerField()


class StakeQuoteApi(PartnerAPIView):
    """What staking more TRX would buy, at the network's current ratio. Changes nothing."""

    write_roles = frozenset(Role)  # a quote is a read, though it is a POST

    @extend_schema(
        request=StakeQuoteInputSerializer,
        responses=StakeQuoteOutputSerializer,
        operation_id="pools_stake_quote",
    )
    def post(self, request: Request, pool_id: int) -> Response:
        pool = pool_get_for_partner(caller=self.caller, pool_id=pool_id)
        serializer = StakeQuoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        amount = to_sun(serializer.validated_data["amount_trx"])
        assert amount is not None
        quote = staking_quote(pool=pool, amount_sun=amount)
        return Response(StakeQuoteOutputSerializer(quote).data)


class OperationInputSerializer(StrictInputSerializer):
    # A payment moves TRX out of the pool: only the platform's rental orders make one.
    kind = serializers.ChoiceField(
        choices=[c for c in StakingOperation.Kind.choices if c[0] != StakingOperation.Kind.PAYMENT]
    )
    amount_trx = trx_amount(required=False)
    receiver = StrictCharField(required=False, allow_blank=True, max_length=64)
    lock_period_blocks = StrictIntegerField(required=False, min_value=0, max_value=864_000)


class OperationOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = StakingOperation
        fields = [
            "id",
            "pool",
            "kind",
            "amount_sun",
            "receiver",
            "lock_period_blocks",
            "energy_quote",
            "txid",
            "state",
            "result",
            "reason",
            "block_number",
            "expiration",
            "created_at",
            "confirmed_at",
        ]
        read_only_fields = fields


IDEMPOTENCY_HEADER = idempotency_key_header(
    required=True,
    description="Required (a retry without one could move TRX twice): an operation is "
    "submitted once per key and pool.",
)


class OperationListApi(PartnerAPIView):
    """The pool's staking operations, newest first; owners and operators submit new ones."""

    @extend_schema(responses=OperationOutputSerializer(many=True), operation_id="pools_ops_list")
    def get(self, request: Request, pool_id: int) -> Response:
        pool = pool_get_for_partner(caller=self.caller, pool_id=pool_id)
        return paginated_response(
            self, staking_operations_for_pool(pool=pool), OperationOutputSerializer
        )

    @extend_schema(
        request=OperationInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses=idempotent_responses({201: OperationOutputSerializer}, key_required=True),
        operation_id="pools_ops_create",
    )
    def post(self, request: Request, pool_id: int) -> Response:
        pool = pool_get_for_partner(caller=self.caller, pool_id=pool_id)
        serializer = OperationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key = parse_key(request.headers, required=True)
        operation = staking_submit(
            pool=pool,
            kind=StakingOperation.Kind(data["kind"]),
            amount_sun=to_sun(data.get("amount_trx")),
            receiver=data.get("receiver", ""),
            lock_period_blocks=data.get("lock_period_blocks", 0),
            idempotency_key=key,
            requested_by_id=self.caller.user_id,
        )
        return Response(OperationOutputSerializer(operation).data, status=status.HTTP_201_CREATED)
