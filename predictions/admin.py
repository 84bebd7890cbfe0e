"""Operators' console: forecasts and their accuracy."""

from __future__ import annotations

from django.contrib import admin

from predictions.models import EnergyPrediction


@admin.register(EnergyPrediction)
class EnergyPredictionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
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
    ]
    list_filter = ["model", "horizon_hours"]
    list_select_related = ["pool"]
    raw_id_fields = ["pool"]
    date_hierarchy = "made_at"
    show_full_result_count = False
