"""Partner API of the predictions app: usage patterns, a pool's forecast, recommendations."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.serializers import QueryIntegerField, StrictInputSerializer
from partners.api_base import PartnerAPIView
from partners.selectors import partner_get_for_caller
from pools.models import EnergyPool
from pools.selectors import pool_get_for_partner, pool_list_for_partner
from predictions.forecasting import WEEK
from predictions.selectors import (
    forecast_accuracy,
    latest_forecasts,
    latest_price_inputs,
    network_energy_per_trx,
    pool_depletion_estimates,
    pool_surplus,
    recommendations,
    usage_patterns,
)


class PatternsQuerySerializer(StrictInputSerializer):
    pool = QueryIntegerField(required=False, min_value=1)


class AnomalySerializer(serializers.Serializer):  # type: ignore[type-arg]
    at = serializers.DateTimeField()
    energy = serializers.FloatField()
    expected = serializers.FloatField()
    sigmas = serializers.FloatField(help_text="How far outside the pattern (standard deviations).")


class PatternSerializer(serializers.Serializer):  # type: ignore[type-arg]
    pool_id = serializers.IntegerField(allow_null=True, help_text="Null: all pools together.")
    time_zone = serializers.CharField()
    weeks = serializers.IntegerField()
    profile = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()),
        help_text="profile[weekday][hour]: mean energy per hour; weekday 0 is Monday, local time.",
    )
    peak_hours = serializers.ListField(child=serializers.IntegerField())
    last_week_energy = serializers.FloatField()
    previous_week_energy = serializers.FloatField()
    trend_percent = serializers.FloatField(allow_null=True)
    anomalies = AnomalySerializer(many=True)


class PatternsOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    partner_id = serializers.IntegerField()
    patterns = PatternSerializer(many=True)


def _query(serializer_class: type[StrictInputSerializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=dict(request.query_params.items()))
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class PatternsApi(PartnerAPIView):
    """Hour-of-day × day-of-week usage in the partner's time zone, trend, peaks, anomalies."""

    @extend_schema(
        parameters=[OpenApiParameter("pool", int, required=False)],
        responses=PatternsOutputSerializer,
        operation_id="energy_patterns",
    )
    def get(self, request: Request, partner_id: int) -> Response:
        partner = partner_get_for_caller(caller=self.caller, partner_id=partner_id)
        query = _query(PatternsQuerySerializer, request)
        if "pool" in query:
            pool_ids = [pool_get_for_partner(caller=self.caller, pool_id=query["pool"]).pk]
        else:
            pool_ids = list(
                pool_list_for_partner(caller=self.caller)
                .exclude(status=EnergyPool.Status.ARCHIVED)
                .values_list("id", flat=True)
            )
        patterns = usage_patterns(partner=partner, pool_ids=pool_ids)
        data = {"partner_id": partner.pk, "patterns": patterns}
        return Response(PatternsOutputSerializer(data).data)


class ForecastQuerySerializer(StrictInputSerializer):
    horizon = serializers.ChoiceField(choices=[24, WEEK], required=False, default=WEEK)


class AccuracySerializer(serializers.Serializer):  # type: ignore[type-arg]
    scored = serializers.IntegerField()
    mae = serializers.FloatField(allow_null=True, help_text="Energy over the window.")
    coverage = serializers.FloatField(allow_null=True, help_text="Share inside the interval.")


class ForecastOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    pool_id = serializers.IntegerField()
    made_at = serializers.DateTimeField(allow_null=True)
    horizon_hours = serializers.IntegerField()
    model = serializers.CharField(allow_null=True)
    level = serializers.DecimalField(max_digits=3, decimal_places=2)
    predicted_energy = serializers.IntegerField(allow_null=True)
    lower_energy = serializers.IntegerField(allow_null=True)
    upper_energy = serializers.IntegerField(allow_null=True)
    series = serializers.ListField(
        child=serializers.DictField(), help_text="Per hour: at, mean, lower, upper."
    )
    accuracy = AccuracySerializer()
    depletes_at = serializers.DateTimeField(allow_null=True)
    hours_left = serializers.FloatField(allow_null=True)


class PoolForecastApi(PartnerAPIView):
    """The pool's newest stored forecast (hourly series with intervals) and its accuracy."""

    @extend_schema(
        parameters=[OpenApiParameter("horizon", int, required=False, enum=[24, WEEK])],
        responses=ForecastOutputSerializer,
        operation_id="pools_forecast",
    )
    def get(self, request: Request, pool_id: int) -> Response:
        pool = pool_get_for_partner(caller=self.caller, pool_id=pool_id)
        horizon = int(_query(ForecastQuerySerializer, request)["horizon"])
        forecast = latest_forecasts(pool_ids=[pool.pk], horizon_hours=horizon).get(pool.pk)
        accuracy = forecast_accuracy(pool_ids=[pool.pk], horizon_hours=horizon)[pool.pk]
        depletion = pool_depletion_estimates(pool_ids=[pool.pk])[pool.pk]
        series: list[dict[str, Any]] = []
        if forecast is not None:
            from datetime import timedelta

            s = forecast.series
            series = [
                {
                    "at": forecast.made_at + timedelta(hours=i),
                    "mean": s["mean"][i],
                    "lower": s["lower"][i],
                    "upper": s["upper"][i],
                }
                for i in range(len(s.get("mean", [])))
            ]
        data = {
            "pool_id": pool.pk,
            "made_at": forecast.made_at if forecast else None,
            "horizon_hours": horizon,
            "model": forecast.model if forecast else None,
            "level": forecast.level if forecast else Decimal("0.80"),
            "predicted_energy": forecast.predicted_energy if forecast else None,
            "lower_energy": forecast.lower_energy if forecast else None,
            "upper_energy": forecast.upper_energy if forecast else None,
            "series": series,
            "accuracy": accuracy,
            "depletes_at": depletion.depletes_at,
            "hours_left": depletion.hours_left,
        }
        return Response(ForecastOutputSerializer(data).data)


class RecommendationsQuerySerializer(StrictInputSerializer):
    days = QueryIntegerField(required=False, default=7, min_value=1, max_value=7)


class RecommendationSerializer(serializers.Serializer):  # type: ignore[type-arg]
    kind = serializers.ChoiceField(choices=["stake", "rent", "move_delegation"])
    pool_id = serializers.IntegerField()
    from_pool_id = serializers.IntegerField(allow_null=True)
    shortfall_energy = serializers.IntegerField()
    covers_energy = serializers.IntegerField()
    trx_amount_sun = serializers.IntegerField()
    cost_sun = serializers.IntegerField()
    burn_cost_sun = serializers.IntegerField()
    energy_per_day = serializers.IntegerField()
    days = serializers.IntegerField()
    detail = serializers.CharField()


class PriceInputsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    energy_per_trx = serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True)
    energy_fee_sun = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    rental_sun_per_energy_day = serializers.DecimalField(
        max_digits=20, decimal_places=6, allow_null=True
    )
    rental_source = serializers.CharField(allow_null=True)
    rental_duration_days = serializers.IntegerField(allow_null=True)
    rental_quoted_at = serializers.DateTimeField(allow_null=True)


class RecommendationsOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    partner_id = serializers.IntegerField()
    days = serializers.IntegerField()
    prices = PriceInputsSerializer()
    recommendations = RecommendationSerializer(many=True)


class RecommendationsApi(PartnerAPIView):
    """Priced actions for pools the pessimistic forecast says will run short within `days`."""

    @extend_schema(
        parameters=[OpenApiParameter("days", int, required=False)],
        responses=RecommendationsOutputSerializer,
        operation_id="energy_recommendations",
    )
    def get(self, request: Request, partner_id: int) -> Response:
        partner = partner_get_for_caller(caller=self.caller, partner_id=partner_id)
        days = int(_query(RecommendationsQuerySerializer, request)["days"])
        pools = list(
            pool_list_for_partner(caller=self.caller).filter(
                role=EnergyPool.Role.ENERGY,
                status__in=[EnergyPool.Status.ACTIVE, EnergyPool.Status.DRAINING],
            )
        )
        pool_ids = [p.pk for p in pools]
        estimates = pool_depletion_estimates(pool_ids=pool_ids, hours=days * 24)
        prices = latest_price_inputs(days=days)
        ratio = (
            network_energy_per_trx(pools=pools)
            if any(e.shortfall > 0 for e in estimates.values())
            else None
        )
        items = recommendations(
            estimates=estimates,
            energy_per_trx=ratio,
            prices=prices,
            days=days,
            surplus=pool_surplus(estimates=estimates, pool_ids=pool_ids, hours=days * 24),
        )
        data = {
            "partner_id": partner.pk,
            "days": days,
            "prices": {"energy_per_trx": ratio, **prices.__dict__},
            "recommendations": items,
        }
        return Response(RecommendationsOutputSerializer(data).data)
