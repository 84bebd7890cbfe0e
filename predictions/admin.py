"""Operators' console: forecasts, and per pool the newest forecast and its accuracy."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Avg, Count, FloatField, IntegerField, Q, QuerySet
from django.db.models.functions import Cast
from django.http import HttpRequest

from common.admin import ReadOnlyAdmin
from predictions.models import EnergyPrediction, PoolForecast
from predictions.selectors import latest_forecasts, pool_depletion_estimates


@admin.register(EnergyPrediction)
class EnergyPredictionAdmin(ReadOnlyAdmin):
    list_display = [
        "made_at",
        "pool",
        "horizon_hours",
        "target_at",
        "predicted_energy",
        "lower_energy",
        "upper_energy",
        "model",
        "actual_energy",
        "abs_error",
        "covered",
    ]
    list_filter = ["horizon_hours", "covered", "model"]
    list_select_related = ["pool"]
    raw_id_fields = ["pool"]
    date_hierarchy = "made_at"
    show_full_result_count = False


@admin.register(PoolForecast)
class PoolForecastAdmin(ReadOnlyAdmin):
    """Each pool's newest 24 h and 7 d forecast, its depletion and its scored accuracy."""

    list_display = [
        "__str__",
        "partner",
        "status",
        "forecast_24h",
        "forecast_7d",
        "depletes_at",
        "scored",
        "mae_24h",
        "coverage_24h",
    ]
    list_select_related = ["partner"]
    list_filter = ["status"]
    search_fields = ["address", "label"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PoolForecast]:
        scored = Q(predictions__horizon_hours=24, predictions__abs_error__isnull=False)
        pools: QuerySet[PoolForecast] = super().get_queryset(request)
        return pools.annotate(
            scored_n=Count("predictions", filter=scored),
            mae=Avg("predictions__abs_error", filter=scored),
            coverage=Avg(
                Cast("predictions__covered", output_field=IntegerField()),
                filter=scored,
                output_field=FloatField(),
            ),
        )

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        ids = [pool.pk for pool in changelist.result_list]
        # Three queries for the page, whatever its length; kept on the rows (the admin
        # instance is shared between requests).
        day = latest_forecasts(pool_ids=ids, horizon_hours=24)
        week = latest_forecasts(pool_ids=ids, horizon_hours=168)
        depletion = pool_depletion_estimates(pool_ids=ids)
        for pool in changelist.result_list:
            pool.forecast_day = day.get(pool.pk)
            pool.forecast_week = week.get(pool.pk)
            pool.depletion = depletion.get(pool.pk)
        return changelist

    @staticmethod
    def _band(forecast: EnergyPrediction | None) -> str:
        if forecast is None:
            return "—"
        return (
            f"{forecast.predicted_energy:,} ({forecast.lower_energy:,}–{forecast.upper_energy:,})"
        )

    @admin.display(description="next 24 h (80 %)")
    def forecast_24h(self, obj: PoolForecast) -> str:
        return self._band(getattr(obj, "forecast_day", None))

    @admin.display(description="next 7 d (80 %)")
    def forecast_7d(self, obj: PoolForecast) -> str:
        return self._band(getattr(obj, "forecast_week", None))

    @admin.display(description="runs out")
    def depletes_at(self, obj: PoolForecast) -> str:
        estimate = getattr(obj, "depletion", None)
        if estimate is None or estimate.depletes_at is None:
            return "—"
        return f"{estimate.depletes_at:%Y-%m-%d %H:%M} UTC"

    @admin.display(description="scored 24 h")
    def scored(self, obj: PoolForecast) -> int:
        return int(obj.scored_n)  # type: ignore[attr-defined]

    @admin.display(description="MAE 24 h")
    def mae_24h(self, obj: PoolForecast) -> str:
        mae = obj.mae  # type: ignore[attr-defined]
        return "—" if mae is None else f"{mae:,.0f}"

    @admin.display(description="coverage 24 h")
    def coverage_24h(self, obj: PoolForecast) -> str:
        coverage = obj.coverage  # type: ignore[attr-defined]
        return "—" if coverage is None else f"{coverage:.0%}"
