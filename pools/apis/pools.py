"""Partner API: the calling partner's energy pools."""

from __future__ import annotations

from datetime import tzinfo
from decimal import Decimal
from typing import Any

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.filters import filtered
from common.api.pagination import DefaultPagination
from common.api.render import fixed_decimal, iso_datetime, output_timezone
from common.api.serializers import (
    StrictCharField,
    StrictDecimalField,
    StrictInputSerializer,
    StrictIntegerField,
)
from common.readcache import cached_read
from partners.api_base import PartnerAPIView
from partners.models import Partner, Role
from pools.models import EnergyPool, available_energy, regeneration_per_hour, usage_percent
from pools.selectors import pool_get_for_partner, pool_list_for_partner
from pools.services import pool_update_settings
from pools.services.onboarding import pool_onboard, pool_onboard_check, pool_set_status


def threshold_input() -> StrictDecimalField:
    """An optional threshold override in percent; null clears the override."""
    return StrictDecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        required=False,
        allow_null=True,
    )


class PoolOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    available_energy = serializers.IntegerField(read_only=True)
    usage_percent = serializers.DecimalField(max_digits=7, decimal_places=2, read_only=True)
    regeneration_per_hour = serializers.IntegerField(read_only=True)

    class Meta:
        model = EnergyPool
        fields = [
            "id",
            "address",
            "label",
            "custody",
            "role",
            "status",
            "staked_trx_sun",
            "energy_limit",
            "energy_used",
            "reserved_energy",
            "available_energy",
            "usage_percent",
            "regeneration_per_hour",
            "trx_balance_sun",
            "bandwidth_limit",
            "bandwidth_used",
            "warning_threshold",
            "critical_threshold",
            "emergency_threshold",
            "share_priority",
            "last_synced_at",
            "last_sync_block",
            "created_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: EnergyPool) -> dict[str, Any]:
        """The declared fields, written out by hand (`pool_row_output`): a page of 100 pools
        spent most of its time in DRF's field-by-field walk (bench/reads.py). A test holds
        the two equal (pools/tests/test_energy_api.py)."""
        return pool_row_output(
            {name: getattr(instance, name) for name in POOL_ROW_FIELDS} | {"id": instance.pk},
            output_timezone(),
        )


# The stored columns `PoolOutputSerializer` shows: its fields but the three computed from them.
POOL_ROW_FIELDS = tuple(
    name
    for name in PoolOutputSerializer.Meta.fields
    if name not in ("available_energy", "usage_percent", "regeneration_per_hour")
)


def pool_row_output(row: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    """`PoolOutputSerializer`'s output from a row of `POOL_ROW_FIELDS` (a `values()` row:
    the pool list builds no model instances)."""
    limit, used, reserved = row["energy_limit"], row["energy_used"], row["reserved_energy"]
    return {
        "id": row["id"],
        "address": row["address"],
        "label": row["label"],
        "custody": row["custody"],
        "role": row["role"],
        "status": row["status"],
        "staked_trx_sun": row["staked_trx_sun"],
        "energy_limit": limit,
        "energy_used": used,
        "reserved_energy": reserved,
        "available_energy": available_energy(limit=limit, used=used, reserved=reserved),
        "usage_percent": fixed_decimal(usage_percent(limit=limit, used=used, reserved=reserved), 2),
        "regeneration_per_hour": regeneration_per_hour(limit),
        "trx_balance_sun": row["trx_balance_sun"],
        "bandwidth_limit": row["bandwidth_limit"],
        "bandwidth_used": row["bandwidth_used"],
        "warning_threshold": fixed_decimal(row["warning_threshold"], 2),
        "critical_threshold": fixed_decimal(row["critical_threshold"], 2),
        "emergency_threshold": fixed_decimal(row["emergency_threshold"], 2),
        "share_priority": row["share_priority"],
        "last_synced_at": iso_datetime(row["last_synced_at"], tz),
        "last_sync_block": row["last_sync_block"],
        "created_at": iso_datetime(row["created_at"], tz),
    }


class PoolFilter(filters.FilterSet):  # type: ignore[misc]  # django-filter is untyped
    status = filters.MultipleChoiceFilter(choices=EnergyPool.Status.choices)
    custody = filters.ChoiceFilter(choices=EnergyPool.Custody.choices)

    class Meta:
        model = EnergyPool
        fields = ["status", "custody"]


class PoolCreateInputSerializer(StrictInputSerializer):
    address = StrictCharField(required=False, allow_blank=True, max_length=64)
    # "label" shadows DRF's Field.label, which the stubs type as str.
    label = StrictCharField(  # type: ignore[assignment]
        required=False, allow_blank=True, max_length=100
    )
    private_key = StrictCharField(
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=True,
        style={"input_type": "password"},
        help_text="Hex private key to make the pool custodial. Stored only encrypted.",
    )
    generate_key = serializers.BooleanField(required=False, default=False)
    role = serializers.ChoiceField(
        choices=EnergyPool.Role.choices,
        required=False,
        default=EnergyPool.Role.ENERGY,
        help_text="`emergency`: a stake-less wallet that sends emergency withdrawals.",
    )


def onboard(*, partner: Partner, data: dict[str, Any]) -> EnergyPool:
    """Run the onboarding service with API input (its field errors become a 400 in the
    API's exception handler)."""
    plan = pool_onboard_check(
        address=data.get("address", ""),
        private_key_hex=data.get("private_key", ""),
        generate_key=data.get("generate_key", False),
    )
    return pool_onboard(
        partner=partner,
        plan=plan,
        label=data.get("label", ""),
        role=data.get("role", EnergyPool.Role.ENERGY),
    )


class PoolListApi(PartnerAPIView):
    """The calling partner's pools, oldest first, paginated; owners add pools."""

    # Lists are paginated: this tells the schema so (drf-spectacular reads it).
    pagination_class = DefaultPagination

    write_roles = frozenset({Role.OWNER})
    # Declared so the schema documents the filters; `get` applies the filterset itself.
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = PoolFilter
    queryset = EnergyPool.objects.none()  # the schema's model; never queried

    @extend_schema(
        responses=PoolOutputSerializer(many=True), operation_id="pools_list", filters=True
    )
    def get(self, request: Request) -> Response:
        caller = self.caller
        pools = filtered(PoolFilter, request, pool_list_for_partner(caller=caller))
        paginator = DefaultPagination()

        def page() -> dict[str, Any]:
            rows = paginator.paginate_rows(pools, request, fields=POOL_ROW_FIELDS)
            tz = output_timezone()
            results = [pool_row_output(row, tz) for row in rows]
            return dict(paginator.get_paginated_response(results).data)

        # The page's links are absolute: the whole URL (host and query) names the page.
        name = f"pools:{request.build_absolute_uri()}"
        data = cached_read(partner_id=caller.partner.pk, name=name, compute=page)
        return Response(data)

    @extend_schema(
        request=PoolCreateInputSerializer,
        responses={201: PoolOutputSerializer},
        operation_id="pools_create",
    )
    def post(self, request: Request) -> Response:
        """Add a pool by address (watch-only) or with a key (custodial). Owners only."""
        serializer = PoolCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pool = onboard(partner=self.caller.partner, data=serializer.validated_data)
        return Response(PoolOutputSerializer(pool).data, status=status.HTTP_201_CREATED)


class PoolUpdateInputSerializer(StrictInputSerializer):
    # The input field "label" shadows DRF's Field.label attribute, which stubs type as str.
    label = StrictCharField(  # type: ignore[assignment]
        max_length=100, required=False, allow_blank=True
    )
    warning_threshold = threshold_input()
    critical_threshold = threshold_input()
    emergency_threshold = threshold_input()
    share_priority = StrictIntegerField(required=False, min_value=1, max_value=100)


class PoolDetailApi(PartnerAPIView):
    """One of the calling partner's pools; owners and operators may change its settings."""

    @extend_schema(responses=PoolOutputSerializer, operation_id="pools_retrieve")
    def get(self, request: Request, pool_id: int) -> Response:
        pool = pool_get_for_partner(caller=self.caller, pool_id=pool_id)
        return Response(PoolOutputSerializer(pool).data)

    @extend_schema(
        request=PoolUpdateInputSerializer,
        responses=PoolOutputSerializer,
        operation_id="pools_update",
    )
    def patch(self, request: Request, pool_id: int) -> Response:
        pool = pool_get_for_partner(caller=self.caller, pool_id=pool_id)
        serializer = PoolUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        label = data.pop("label", None)
        priority = data.pop("share_priority", None)
        pool = pool_update_settings(
            pool=pool, label=label, thresholds=data, share_priority=priority
        )
        return Response(PoolOutputSerializer(pool).data)


class PoolStatusInputSerializer(StrictInputSerializer):
    status = serializers.ChoiceField(choices=EnergyPool.Status.choices)


class PoolStatusApi(PartnerAPIView):
    """Pause, resume, drain or archive one of the partner's pools."""

    @extend_schema(
        request=PoolStatusInputSerializer,
        responses=PoolOutputSerializer,
        operation_id="pools_set_status",
    )
    def post(self, request: Request, pool_id: int) -> Response:
        pool = pool_get_for_partner(caller=self.caller, pool_id=pool_id)
        serializer = PoolStatusInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pool = pool_set_status(pool=pool, status=serializer.validated_data["status"])
        return Response(PoolOutputSerializer(pool).data)
