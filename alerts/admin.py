"""Operators' console: alerts, channels and deliveries."""

from __future__ import annotations

from django.contrib import admin

from alerts.models import AlertChannel, AlertDelivery, EnergyAlert


class DeliveryInline(admin.TabularInline):  # type: ignore[type-arg]
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = readonly_fields = ("channel", "level", "status", "attempts", "last_error", "sent_at")


@admin.register(EnergyAlert)
class EnergyAlertAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "opened_at",
        "level",
        "kind",
        "partner",
        "pool",
        "value",
        "threshold",
        "acknowledged_at",
        "resolved_at",
    ]
    list_filter = ["level", "kind", ("resolved_at", admin.EmptyFieldListFilter), "partner"]
    list_select_related = ["partner", "pool"]
    search_fields = ["message", "pool__address", "partner__name"]
    raw_id_fields = ["pool", "acknowledged_by"]
    autocomplete_fields = ["partner"]
    inlines = [DeliveryInline]
    date_hierarchy = "opened_at"


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "kind", "partner", "min_level", "is_active"]
    list_filter = ["kind", "min_level", "is_active"]
    list_select_related = ["partner"]
    search_fields = ["name", "target"]
    autocomplete_fields = ["partner"]


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["created_at", "alert", "channel", "level", "status", "attempts", "sent_at"]
    list_filter = ["status", "level"]
    list_select_related = ["alert", "channel"]
    raw_id_fields = ["alert", "channel"]
    show_full_result_count = False
