"""Dashboard and analytics reads (seed document 000's names): the partner's cards in one call,
the partner's analytics, and the operators' same across partners."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.permissions import IsVerifiedStaff
from common.api.render import fixed_decimal, iso_datetime, output_timezone
from common.api.serializers import QueryIntegerField
from common.api.views import StaffAPIView
from common.readcache import cached_read
from dashboard.selectors import MAX_DAYS, PoolCard, analytics, global_dashboard, partner_dashboard
from operations.batch_apis import JobRunSerializer, JobStatsSerializer
from partners.api_base import PartnerAPIView
from partners.selectors import partner_get_for_caller
from pools.apis.energy import (
    PartnerTotalsSerializer,
    PoolEnergySerializer,
    PriceSerializer,
    SavingsSerializer,
    TotalsSerializer,
    pool_energy_as_row,
    pool_energy_output,
    savings_output,
    totals_output,
)
from pools.models import EnergyPool
from pools.selectors import PoolEnergy


class PoolCardSerializer(PoolEnergySerializer):
    partner_id = serializers.IntegerField(source="pool.partner_id")
    partner_name = serializers.CharField(source="pool.partner.name")
    level = serializers.ChoiceField(choices=["ok", "warning", "critical", "emergency"])
    warning_threshold = serializers.DecimalField(source="warning", max_digits=5, decimal_places=2)
    critical_threshold = serializers.DecimalField(source="critical", max_digits=5, decimal_places=2)
    emergency_threshold = serializers.DecimalField(
        source="emergency", max_digits=5, decimal_places=2
    )
    queue_length = serializers.IntegerField()
    oldest_wait_seconds = serializers.IntegerField(allow_null=True)
    # A card wraps a PoolEnergy: its own numbers are one step further.
    available_energy = serializers.IntegerField(source="energy.available")
    daily_usage = serializers.FloatField(source="energy.daily_usage")
    days_left = serializers.FloatField(
        source="energy.days_left",
        allow_null=True,
        help_text="Null when the recent rate is sustainable.",
    )
    stale = serializers.BooleanField(source="energy.stale")

    def to_representation(self, instance: PoolEnergy | PoolCard) -> dict[str, Any]:
        """By hand (`pool_card_output`), as its parent's (the hot path of the dashboards);
        held equal to the declared fields by dashboard/tests/test_apis.py."""
        if not isinstance(instance, PoolCard):
            raise TypeError("a pool card serializes a PoolCard")
        return pool_card_output(pool_card_as_row(instance), output_timezone())


def pool_card_as_row(card: PoolCard) -> dict[str, Any]:
    """A `PoolCard` as a `pool_card_rows` row."""
    return {
        **pool_energy_as_row(card.energy),
        "partner_name": card.pool.partner.name,
        "warning": card.warning,
        "critical": card.critical,
        "emergency": card.emergency,
        "level": card.level,
        "queue_length": card.queue_length,
        "oldest_wait_seconds": card.oldest_wait_seconds,
    }


def pool_card_output(row: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    """`PoolCardSerializer`'s output from a `pool_card_rows` row."""
    return {
        **pool_energy_output(row, tz),
        "partner_id": row["partner_id"],
        "partner_name": row["partner_name"],
        "level": row["level"],
        "warning_threshold": fixed_decimal(row["warning"], 2),
        "critical_threshold": fixed_decimal(row["critical"], 2),
        "emergency_threshold": fixed_decimal(row["emergency"], 2),
        "queue_length": row["queue_length"],
        "oldest_wait_seconds": row["oldest_wait_seconds"],
    }


class QueueSummarySerializer(serializers.Serializer):  # type: ignore[type-arg]
    length = serializers.IntegerField()
    oldest_wait_seconds = serializers.IntegerField(allow_null=True)


class RecentWithdrawalSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    status = serializers.CharField()
    mode = serializers.CharField()
    amount = serializers.DecimalField(max_digits=30, decimal_places=6)
    pool_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class AlertSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    partner_id = serializers.IntegerField()
    pool_id = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField()
    level = serializers.CharField()
    message = serializers.CharField()
    opened_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)


class ChannelSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    min_level = serializers.CharField()
    is_active = serializers.BooleanField()


class DashboardOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    partner_id = serializers.IntegerField()
    generated_at = serializers.DateTimeField()
    totals = TotalsSerializer()
    savings = SavingsSerializer()
    pools = PoolCardSerializer(many=True)
    queue = QueueSummarySerializer()
    withdrawals_by_status = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Every withdrawal still in progress, and the finished ones (confirmed, "
        "failed, cancelled) created since `withdrawals_since`, by status.",
    )
    withdrawals_since = serializers.DateTimeField(
        help_text="Finished withdrawals are counted from here (30 days back)."
    )
    recent_withdrawals = RecentWithdrawalSerializer(many=True)
    alerts = AlertSerializer(many=True)
    channels = ChannelSerializer(many=True)
    prices = PriceSerializer(many=True)


def dashboard_output(data: dict[str, Any]) -> dict[str, Any]:
    """`DashboardOutputSerializer`'s output from `partner_dashboard`'s rows, written out by
    hand (DRF's walk over a hundred cards was most of the uncached dashboard's time,
    bench/reads.py); held equal to the serializer by dashboard/tests/test_apis.py."""
    tz = output_timezone()
    savings = data["savings"]
    return {
        "partner_id": data["partner_id"],
        "generated_at": iso_datetime(data["generated_at"], tz),
        "totals": totals_output(data["totals"]),
        "savings": savings_output(savings["since"], savings["trx_saved_sun"], tz),
        "pools": [pool_card_output(row, tz) for row in data["pools"]],
        "queue": dict(data["queue"]),
        "withdrawals_by_status": dict(data["withdrawals_by_status"]),
        "withdrawals_since": iso_datetime(data["withdrawals_since"], tz),
        "recent_withdrawals": [
            {
                "id": w["id"],
                "status": w["status"],
                "mode": w["mode"],
                "amount": fixed_decimal(w["amount"], 6),
                "pool_id": w["pool_id"],
                "created_at": iso_datetime(w["created_at"], tz),
            }
            for w in data["recent_withdrawals"]
        ],
        "alerts": [
            {
                "id": a["id"],
                "partner_id": a["partner_id"],
                "pool_id": a["pool_id"],
                "kind": a["kind"],
                "level": a["level"],
                "message": a["message"],
                "opened_at": iso_datetime(a["opened_at"], tz),
                "acknowledged_at": iso_datetime(a["acknowledged_at"], tz),
            }
            for a in data["alerts"]
        ],
        "channels": [dict(c) for c in data["channels"]],
        "prices": [
            {
                "source": q.source,
                "kind": q.kind,
                "price_sun": fixed_decimal(q.price_sun, 6),
                "duration_days": q.duration_days,
                "min_energy": q.min_energy,
                "quoted_at": iso_datetime(q.quoted_at, tz),
            }
            for q in data["prices"]
        ],
    }


class EnergyDashboardApi(PartnerAPIView):
    """The partner dashboard's cards in one call: every pool (archived left out) with its
    usage against its thresholds, frozen TRX, days left, queue and staleness; totals, the
    queue, recent withdrawals, open alerts, alert channels and prices."""

    @extend_schema(responses=DashboardOutputSerializer, operation_id="energy_dashboard")
    def get(self, request: Request, partner_id: int) -> Response:
        partner = partner_get_for_caller(caller=self.caller, partner_id=partner_id)

        def dashboard() -> dict[str, Any]:
            return dashboard_output(partner_dashboard(partner_id=partner.pk))

        # Cached until the partner's data changes (common/readcache.py).
        return Response(cached_read(partner_id=partner.pk, name="dashboard", compute=dashboard))


class AnalyticsQuerySerializer(serializers.Serializer):  # type: ignore[type-arg]
    days = QueryIntegerField(min_value=1, max_value=MAX_DAYS, default=30)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown parameter."] for name in unknown})
        if self.initial_data.get("days") == "":  # DRF would read "?days=" as absent
            raise serializers.ValidationError({"days": ["A valid integer is required."]})
        return attrs


class DailySerializer(serializers.Serializer):  # type: ignore[type-arg]
    date = serializers.DateField()
    energy_used = serializers.IntegerField()
    pooled_energy = serializers.IntegerField(help_text="Energy our withdrawals took from pools.")
    external_energy = serializers.IntegerField(help_text="Pool energy used outside the platform.")
    trx_burned_sun = serializers.IntegerField()
    trx_saved_sun = serializers.IntegerField(
        help_text="Pooled energy priced at the chain's energy fee then: TRX not burned."
    )
    withdrawals = serializers.IntegerField()
    confirmed = serializers.IntegerField()
    failed = serializers.IntegerField()
    emergency = serializers.IntegerField()


class AnalyticsTotalsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    energy_used = serializers.IntegerField()
    pooled_energy = serializers.IntegerField()
    trx_burned_sun = serializers.IntegerField()
    trx_saved_sun = serializers.IntegerField()
    withdrawals = serializers.IntegerField()


class PeakHourSerializer(serializers.Serializer):  # type: ignore[type-arg]
    hour = serializers.IntegerField(help_text="Hour of day, UTC.")
    energy_used = serializers.IntegerField()


class EnergyPointSerializer(serializers.Serializer):  # type: ignore[type-arg]
    t = serializers.DateTimeField()
    used = serializers.IntegerField()
    available = serializers.IntegerField()


class PoolSeriesSerializer(serializers.Serializer):  # type: ignore[type-arg]
    pool_id = serializers.IntegerField()
    points = EnergyPointSerializer(many=True)


class ForecastPointSerializer(serializers.Serializer):  # type: ignore[type-arg]
    t = serializers.DateTimeField()
    predicted = serializers.IntegerField()
    lower = serializers.IntegerField()
    upper = serializers.IntegerField()


class ForecastSeriesSerializer(PoolSeriesSerializer):
    points = ForecastPointSerializer(many=True)  # type: ignore[assignment]


class AnalyticsOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    partner_id = serializers.IntegerField(allow_null=True)
    days = serializers.IntegerField()
    since = serializers.DateTimeField()
    totals = AnalyticsTotalsSerializer()
    daily = DailySerializer(many=True)
    heatmap = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="Energy used by ISO weekday (row 0 = Monday) × hour of day (UTC).",
    )
    peak_hours = PeakHourSerializer(many=True)
    energy_24h = PoolSeriesSerializer(many=True)
    energy_daily = PoolSeriesSerializer(many=True)
    forecast = ForecastSeriesSerializer(many=True)


def _days(request: Request) -> int:
    query = AnalyticsQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return int(query.validated_data["days"])


class EnergyAnalyticsApi(PartnerAPIView):
    """The partner's analytics over `days` (default 30): daily energy used, withdrawals,
    pooled vs burned, TRX saved; usage by hour × weekday and peak hours; each pool's energy
    over 24 h and per day; the newest forecast once predictions exist."""

    @extend_schema(
        parameters=[AnalyticsQuerySerializer],
        responses=AnalyticsOutputSerializer,
        operation_id="energy_analytics",
    )
    def get(self, request: Request, partner_id: int) -> Response:
        partner = partner_get_for_caller(caller=self.caller, partner_id=partner_id)
        data = analytics(partner_id=partner.pk, days=_days(request))
        return Response(AnalyticsOutputSerializer(data).data)


class GlobalAnalyticsApi(StaffAPIView):
    """The same analytics across every partner (operators only)."""

    @extend_schema(
        parameters=[AnalyticsQuerySerializer],
        responses=AnalyticsOutputSerializer,
        operation_id="energy_global_analytics",
    )
    def get(self, request: Request) -> Response:
        data = analytics(partner_id=None, days=_days(request))
        return Response(AnalyticsOutputSerializer(data).data)


class GlobalDashboardQuerySerializer(serializers.Serializer):  # type: ignore[type-arg]
    partner = QueryIntegerField(min_value=1, required=False)
    status = serializers.ChoiceField(choices=EnergyPool.Status.choices, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown parameter."] for name in unknown})
        return attrs


class GlobalDashboardOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    generated_at = serializers.DateTimeField()
    totals = TotalsSerializer()
    partners = PartnerTotalsSerializer(many=True)
    savings = SavingsSerializer()
    pools = PoolCardSerializer(many=True)
    alerts = AlertSerializer(many=True)
    jobs = JobStatsSerializer(many=True)
    recent_jobs = JobRunSerializer(many=True)
    prices = PriceSerializer(many=True)


class GlobalDashboardApi(StaffAPIView):
    """The operators' console in one call: every pool as a card (`partner`, `status`
    filters), totals across and per partner, open alerts, jobs and prices."""

    permission_classes = [IsVerifiedStaff]

    @extend_schema(
        parameters=[GlobalDashboardQuerySerializer],
        responses=GlobalDashboardOutputSerializer,
        operation_id="energy_global_dashboard",
    )
    def get(self, request: Request) -> Response:
        query = GlobalDashboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = global_dashboard(
            partner_id=query.validated_data.get("partner"),
            status=query.validated_data.get("status"),
        )
        return Response(GlobalDashboardOutputSerializer(data).data)
