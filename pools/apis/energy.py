"""Energy reads and actions: the partner's live monitor, usage logs and sync-now; the admin
views across partners (seed documents 000 and 001)."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.filters import IdFilter, UtcDateTimeFilter, filtered
from common.api.pagination import DefaultPagination, paginated_response
from common.api.render import fixed_decimal, iso_datetime, output_timezone
from common.api.serializers import StrictIntegerField
from common.api.views import StaffAPIView
from common.readcache import cached_read
from partners.api_base import PartnerAPIView
from partners.selectors import partner_get_by_id, partner_get_for_caller
from pools.apis.pools import PoolCreateInputSerializer, PoolOutputSerializer, onboard
from pools.models import (
    EnergyPool,
    EnergyShare,
    EnergyUsageLog,
    PriceQuote,
    regeneration_per_hour,
    usage_percent,
)
from pools.selectors import (
    POOL_ENERGY_FIELDS,
    PoolEnergy,
    energy_shares_for_partner,
    energy_totals_rows,
    latest_prices,
    monitor_pools,
    partner_energy_overview,
    pool_energy,
    pool_energy_rows_and_savings,
    pool_list_for_partner,
    trx_saved_sun,
    usage_logs_for_partner,
)
from pools.services.sync import pools_sync

SAVINGS_WINDOW = timedelta(days=30)


class PoolEnergySerializer(serializers.Serializer):  # type: ignore[type-arg]
    pool_id = serializers.IntegerField(source="pool.pk")
    address = serializers.CharField(source="pool.address")
    # "label" shadows DRF's Field.label, which the stubs type as str.
    label = serializers.CharField(source="pool.label")  # type: ignore[assignment]
    status = serializers.CharField(source="pool.status")
    energy_limit = serializers.IntegerField(source="pool.energy_limit")
    energy_used = serializers.IntegerField(source="pool.energy_used")
    reserved_energy = serializers.IntegerField(source="pool.reserved_energy")
    available_energy = serializers.IntegerField(source="available")
    usage_percent = serializers.DecimalField(
        source="pool.usage_percent", max_digits=7, decimal_places=2
    )
    regeneration_per_hour = serializers.IntegerField(source="pool.regeneration_per_hour")
    daily_usage = serializers.FloatField()
    days_left = serializers.FloatField(
        allow_null=True, help_text="Null when the recent rate is sustainable."
    )
    staked_trx_sun = serializers.IntegerField(source="pool.staked_trx_sun")
    trx_balance_sun = serializers.IntegerField(source="pool.trx_balance_sun")
    last_synced_at = serializers.DateTimeField(source="pool.last_synced_at", allow_null=True)
    last_sync_error = serializers.CharField(source="pool.last_sync_error")
    stale = serializers.BooleanField()
    # Scored 24-hour forecasts of the pool (refresh_predictions, predictions/services/__init__.py);
    # annotated by the monitor only (monitor_pools below), null elsewhere.
    forecast_scored = serializers.IntegerField(source="pool.forecast_scored", default=None)
    forecast_mae = serializers.FloatField(
        source="pool.forecast_mae",
        default=None,
        allow_null=True,
        help_text="Mean absolute error of the 24 h forecasts' totals (energy).",
    )
    forecast_coverage = serializers.FloatField(
        source="pool.forecast_coverage",
        default=None,
        allow_null=True,
        help_text="Share of 24 h forecasts whose 80 % interval held the actual use.",
    )

    def to_representation(self, instance: PoolEnergy) -> dict[str, Any]:
        """The declared fields, written out by hand (`pool_energy_output`): this list is the
        hot path of the monitor and of the dashboards (bench/reads.py), and DRF's
        field-by-field walk took most of their time. The declarations above still describe
        the schema; a test holds the two equal (pools/tests/test_energy_api.py)."""
        return pool_energy_output(pool_energy_as_row(instance), output_timezone())


def pool_energy_as_row(entry: PoolEnergy) -> dict[str, Any]:
    """A `PoolEnergy` as a `pool_energy_rows` row (the forecast's accuracy where the pool
    was annotated with it)."""
    pool = entry.pool
    return {
        **{name: getattr(pool, name) for name in POOL_ENERGY_FIELDS},
        "id": pool.pk,
        "available": entry.available,
        "daily_usage": entry.daily_usage,
        "days_left": entry.days_left,
        "stale": entry.stale,
        **{name: getattr(pool, name) for name in FORECAST_FIELDS if hasattr(pool, name)},
    }


# The monitor's annotations (`with_forecast_accuracy`); absent elsewhere.
FORECAST_FIELDS = ("forecast_scored", "forecast_mae", "forecast_coverage")


def pool_energy_output(row: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    """`PoolEnergySerializer`'s output from a `pool_energy_rows` row."""
    limit, used, reserved = row["energy_limit"], row["energy_used"], row["reserved_energy"]
    days_left = row["days_left"]
    return {
        "pool_id": row["id"],
        "address": row["address"],
        "label": row["label"],
        "status": row["status"],
        "energy_limit": limit,
        "energy_used": used,
        "reserved_energy": reserved,
        "available_energy": row["available"],
        "usage_percent": fixed_decimal(usage_percent(limit=limit, used=used, reserved=reserved), 2),
        "regeneration_per_hour": regeneration_per_hour(limit),
        "daily_usage": float(row["daily_usage"]),
        "days_left": None if days_left is None else float(days_left),
        "staked_trx_sun": row["staked_trx_sun"],
        "trx_balance_sun": row["trx_balance_sun"],
        "last_synced_at": iso_datetime(row["last_synced_at"], tz),
        "last_sync_error": row["last_sync_error"],
        "stale": row["stale"],
        "forecast_scored": row.get("forecast_scored"),
        "forecast_mae": _float_or_none(row.get("forecast_mae")),
        "forecast_coverage": _float_or_none(row.get("forecast_coverage")),
    }


def totals_output(totals: dict[str, Any]) -> dict[str, Any]:
    """`TotalsSerializer`'s output from `energy_totals`' (or `energy_totals_rows`') dict."""
    return {
        "pools": totals["pools"],
        "energy_limit": totals["energy_limit"],
        "energy_used": totals["energy_used"],
        "reserved_energy": totals["reserved_energy"],
        "available_energy": totals["available_energy"],
        "daily_usage": float(totals["daily_usage"]),
        "usage_percent": fixed_decimal(totals["usage_percent"], 2),
    }


def savings_output(since: datetime, saved_sun: int, tz: tzinfo) -> dict[str, Any]:
    """`SavingsSerializer`'s output."""
    return {"since": iso_datetime(since, tz), "trx_saved_sun": int(saved_sun)}


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


class AdminPoolEnergySerializer(PoolEnergySerializer):
    partner_id = serializers.IntegerField(source="pool.partner_id")
    partner_name = serializers.CharField(source="pool.partner.name")

    def to_representation(self, instance: PoolEnergy) -> dict[str, Any]:
        return {
            **super().to_representation(instance),
            "partner_id": instance.pool.partner_id,
            "partner_name": instance.pool.partner.name,
        }


class TotalsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    pools = serializers.IntegerField()
    energy_limit = serializers.IntegerField()
    energy_used = serializers.IntegerField()
    reserved_energy = serializers.IntegerField()
    available_energy = serializers.IntegerField()
    daily_usage = serializers.FloatField()
    usage_percent = serializers.DecimalField(max_digits=7, decimal_places=2)


class SavingsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    since = serializers.DateTimeField()
    trx_saved_sun = serializers.IntegerField(
        help_text="TRX (in sun) not burned because withdrawals used pooled energy."
    )


class MonitorOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    partner_id = serializers.IntegerField()
    totals = TotalsSerializer()
    savings = SavingsSerializer()
    pools = PoolEnergySerializer(many=True)


def monitor_output(*, partner_id: int, now: datetime) -> dict[str, Any]:
    """`MonitorOutputSerializer`'s output for the partner's pools (archived left out), built
    by hand from plain rows, no model instances (the monitor's hot path, bench/reads.py;
    held equal to the serializer by pools/tests/test_energy_api.py): one query, the pools
    with their week's usage, forecast accuracy and the partner's savings (a second for the
    savings when it shows no pool)."""
    since = now - SAVINGS_WINDOW
    rows, saved, _ = pool_energy_rows_and_savings(
        name="monitor_pools",
        pools=monitor_pools,
        partner_id=partner_id,
        now=now,
        since=since,
        fields=FORECAST_FIELDS,
    )
    tz = output_timezone()
    return {
        "partner_id": partner_id,
        "totals": totals_output(energy_totals_rows(rows)),
        "savings": savings_output(since, saved, tz),
        "pools": [pool_energy_output(row, tz) for row in rows],
    }


class EnergyMonitorApi(PartnerAPIView):
    """Live energy of the partner and each of its pools (archived pools left out)."""

    @extend_schema(responses=MonitorOutputSerializer, operation_id="energy_monitor")
    def get(self, request: Request, partner_id: int) -> Response:
        partner = partner_get_for_caller(caller=self.caller, partner_id=partner_id)

        def monitor() -> dict[str, Any]:
            return monitor_output(partner_id=partner.pk, now=timezone.now())

        return Response(cached_read(partner_id=partner.pk, name="monitor", compute=monitor))


class UsageLogFilter(filters.FilterSet):  # type: ignore[misc]  # django-filter is untyped
    pool = IdFilter(field_name="pool_id")
    kind = filters.MultipleChoiceFilter(choices=EnergyUsageLog.Kind.choices)
    since = UtcDateTimeFilter(field_name="at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = EnergyUsageLog
        fields = ["pool", "kind", "since", "until"]


class UsageLogSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    pool_address = serializers.CharField(source="pool.address")

    class Meta:
        model = EnergyUsageLog
        fields = [
            "id",
            "pool",
            "pool_address",
            "withdrawal",
            "txid",
            "kind",
            "energy_used",
            "trx_burned_sun",
            "bandwidth_used",
            "at",
        ]


class UsageLogListApi(PartnerAPIView):
    """Every energy movement of the partner's pools, newest first (external usage included)."""

    # Lists are paginated: this tells the schema so (drf-spectacular reads it).
    pagination_class = DefaultPagination

    # Declared so the schema documents the filters; `get` applies the filterset itself.
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = UsageLogFilter
    queryset = EnergyUsageLog.objects.none()  # the schema's model; never queried

    @extend_schema(
        responses=UsageLogSerializer(many=True), operation_id="energy_usage_logs", filters=True
    )
    def get(self, request: Request, partner_id: int) -> Response:
        partner = partner_get_for_caller(caller=self.caller, partner_id=partner_id)
        return paginated_response(
            self,
            filtered(UsageLogFilter, request, usage_logs_for_partner(partner_id=partner.pk)),
            UsageLogSerializer,
        )


class ShareFilter(filters.FilterSet):  # type: ignore[misc]  # django-filter is untyped
    pool = IdFilter(method="filter_pool")
    state = filters.MultipleChoiceFilter(choices=EnergyShare.State.choices)

    class Meta:
        model = EnergyShare
        fields = ["pool", "state"]

    def filter_pool(
        self, queryset: QuerySet[EnergyShare], name: str, value: int
    ) -> QuerySet[EnergyShare]:
        """Loans the pool gave or received."""
        return queryset.filter(Q(donor_id=value) | Q(receiver_id=value))


class ShareOperationSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    kind = serializers.CharField()
    state = serializers.CharField()
    txid = serializers.CharField()
    reason = serializers.CharField()
    result = serializers.CharField()
    block_number = serializers.IntegerField(allow_null=True)


class ShareSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A loan to or between the partner's pools. When it came from an operator reserve, the
    reserve shows as its id and address only (`from_reserve`), nothing else of it."""

    donor_address = serializers.CharField(source="donor.address", read_only=True)
    from_reserve = serializers.SerializerMethodField()
    delegate_operation = ShareOperationSerializer(allow_null=True)
    undelegate_operation = ShareOperationSerializer(allow_null=True)

    def get_from_reserve(self, obj: EnergyShare) -> bool:
        """The donor is an operator reserve pool (another partner's), not the partner's own."""
        return bool(obj.donor.partner_id != obj.partner_id)

    class Meta:
        model = EnergyShare
        fields = [
            "id",
            "donor",
            "donor_address",
            "from_reserve",
            "receiver",
            "amount_sun",
            "energy",
            "lock_period_blocks",
            "state",
            "reason",
            "return_reason",
            "result",
            "delegate_operation",
            "undelegate_operation",
            "delegated_block",
            "created_at",
            "returned_at",
        ]
        read_only_fields = fields


class ShareListApi(PartnerAPIView):
    """Energy lent between the partner's pools by `rebalance_pools`, or to them from an
    operator reserve the partner may draw from, newest first: each loan with why it was made
    (and given back), and its staking operations. A reserve's other loans are never listed."""

    pagination_class = DefaultPagination
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = ShareFilter
    queryset = EnergyShare.objects.none()  # the schema's model; never queried

    @extend_schema(responses=ShareSerializer(many=True), operation_id="energy_shares", filters=True)
    def get(self, request: Request) -> Response:
        return paginated_response(
            self,
            filtered(ShareFilter, request, energy_shares_for_partner(caller=self.caller)),
            ShareSerializer,
        )


class SyncReportSerializer(serializers.Serializer):  # type: ignore[type-arg]
    pools = serializers.IntegerField()
    synced = serializers.IntegerField()
    failed = serializers.IntegerField()
    snapshots = serializers.IntegerField()
    external_logs = serializers.IntegerField()
    failures = serializers.DictField(
        source="errors", child=serializers.CharField(), help_text="address → why it failed"
    )


class EnergyUpdateApi(PartnerAPIView):
    """Sync the partner's pools with the chain now, and report what was read."""

    @extend_schema(request=None, responses=SyncReportSerializer, operation_id="energy_update")
    def post(self, request: Request, partner_id: int) -> Response:
        partner_get_for_caller(caller=self.caller, partner_id=partner_id)
        report = pools_sync(queryset=pool_list_for_partner(caller=self.caller))
        return Response(SyncReportSerializer(report).data)


class AdminPoolSerializer(PoolOutputSerializer):
    class Meta(PoolOutputSerializer.Meta):
        fields = [*PoolOutputSerializer.Meta.fields, "partner"]
        read_only_fields = fields

    def to_representation(self, instance: EnergyPool) -> dict[str, Any]:
        return {**super().to_representation(instance), "partner": instance.partner_id}


class AdminEnergyStatusApi(StaffAPIView):
    """Every pool of every partner, with its live energy (operators only)."""

    @extend_schema(
        responses=AdminPoolEnergySerializer(many=True), operation_id="admin_energy_status"
    )
    def get(self, request: Request) -> Response:
        queryset = EnergyPool.objects.select_related("partner").order_by("partner_id", "id")
        paginator = DefaultPagination()
        page: list[EnergyPool] = paginator.paginate_queryset(queryset, request, view=self) or []
        entries: list[PoolEnergy] = pool_energy(pools=page)
        return paginator.get_paginated_response(AdminPoolEnergySerializer(entries, many=True).data)


class PartnerTotalsSerializer(TotalsSerializer):
    partner_id = serializers.IntegerField()
    partner_name = serializers.CharField()


class OverviewOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    totals = TotalsSerializer()
    savings = SavingsSerializer()
    partners = PartnerTotalsSerializer(many=True)


class EnergyOverviewApi(StaffAPIView):
    """Energy totals across all partners and per partner (operators only)."""

    @extend_schema(responses=OverviewOutputSerializer, operation_id="energy_overview")
    def get(self, request: Request) -> Response:
        overview: dict[str, Any] = partner_energy_overview()
        since = timezone.now() - SAVINGS_WINDOW
        overview["savings"] = {"since": since, "trx_saved_sun": trx_saved_sun(since=since)}
        return Response(OverviewOutputSerializer(overview).data)


class AdminCreatePoolInputSerializer(PoolCreateInputSerializer):
    partner_id = StrictIntegerField()


class AdminCreatePoolApi(StaffAPIView):
    """Add a pool for any partner (operators only)."""

    @extend_schema(
        request=AdminCreatePoolInputSerializer,
        responses={201: AdminPoolSerializer},
        operation_id="admin_energy_create_pool",
    )
    def post(self, request: Request) -> Response:
        serializer = AdminCreatePoolInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        partner = partner_get_by_id(partner_id=serializer.validated_data["partner_id"])
        if partner is None:
            raise ValidationError({"partner_id": ["No such partner."]})
        pool = onboard(partner=partner, data=serializer.validated_data)
        return Response(AdminPoolSerializer(pool).data, status=status.HTTP_201_CREATED)


class PriceSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = PriceQuote
        fields = ["source", "kind", "price_sun", "duration_days", "min_energy", "quoted_at"]


class PricesApi(PartnerAPIView):
    """The newest chain fees and energy-rental quotes (market data, the same for everyone)."""

    @extend_schema(responses=PriceSerializer(many=True), operation_id="energy_prices")
    def get(self, request: Request) -> Response:
        return Response(PriceSerializer(latest_prices(), many=True).data)
