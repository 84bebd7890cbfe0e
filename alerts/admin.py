"""Operators' console: alerts (bulk acknowledge), channels (test action), the delivery log.

Alerts and deliveries change only through the lifecycle and delivery services, so they are
read-only here. Channel targets may hold tokens: lists show them masked.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from alerts.models import AlertChannel, AlertDelivery, AlertDeliveryAttempt, EnergyAlert
from alerts.services import alert_acknowledge
from alerts.services.channels import target_errors
from alerts.services.delivery import channel_test
from common.admin import ReadOnlyAdmin, audit_trail_register


class DeliveryInline(admin.TabularInline):  # type: ignore[type-arg]
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "uid",
        "channel",
        "event",
        "sequence",
        "level",
        "status",
        "attempts",
        "last_error",
        "sent_at",
    )
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ChannelDeliveryInline(DeliveryInline):
    fk_name = "channel"
    fields = readonly_fields = (
        "uid",
        "alert",
        "event",
        "sequence",
        "level",
        "status",
        "attempts",
        "last_error",
        "sent_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[AlertDelivery]:
        return super().get_queryset(request).select_related("alert")


class AttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    model = AlertDeliveryAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "number",
        "started_at",
        "duration_ms",
        "outcome",
        "status_code",
        "error",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("open", "Open"),
            ("unacknowledged", "Open, not acknowledged"),
            ("resolved", "Resolved"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "unacknowledged":
            return queryset.filter(resolved_at__isnull=True, acknowledged_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(EnergyAlert)
class EnergyAlertAdmin(ReadOnlyAdmin):
    list_display = [
        "opened_at",
        "level",
        "kind",
        "partner",
        "pool",
        "value",
        "threshold",
        "acknowledged_at",
        "acknowledged_by_label",
        "resolved_at",
    ]
    list_filter = [OpenFilter, "level", "kind", "partner"]
    list_select_related = ["partner", "pool"]
    search_fields = ["message", "pool__address", "partner__name"]
    inlines = [DeliveryInline]
    date_hierarchy = "opened_at"
    actions = ["acknowledge"]

    @admin.action(description="Acknowledge the selected open alerts")
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[EnergyAlert]) -> None:
        done = 0
        for alert in queryset.filter(resolved_at__isnull=True, acknowledged_at__isnull=True):
            alert_acknowledge(
                alert=alert,
                user_id=request.user.pk,
                label=str(request.user.get_username()),
                note="Acknowledged in the operators' console.",
            )
            done += 1
        self.message_user(request, f"{done} alert(s) acknowledged.", messages.SUCCESS)


class ChannelForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = AlertChannel
        fields = ["partner", "name", "kind", "target", "min_level", "kinds", "is_active"]
        widgets = {"target": forms.PasswordInput(render_value=True)}

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        kind, target = data.get("kind"), data.get("target")
        if kind and target:
            for error in target_errors(kind=kind, target=target):
                self.add_error("target", error)
        kinds = data.get("kinds") or []
        valid = set(EnergyAlert.Kind.values)
        if not isinstance(kinds, list) or any(k not in valid for k in kinds):
            self.add_error("kinds", f"A list of alert kinds: {', '.join(sorted(valid))}.")
        return data


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ChannelForm
    list_display = ["name", "kind", "partner", "target_masked", "min_level", "is_active"]
    list_filter = ["kind", "min_level", "is_active"]
    list_select_related = ["partner"]
    search_fields = ["name", "partner__name"]
    autocomplete_fields = ["partner"]
    inlines = [ChannelDeliveryInline]
    actions = ["send_test"]

    @admin.display(description="target")
    def target_masked(self, channel: AlertChannel) -> str:
        return channel.target_masked

    @admin.action(description="Send a test message to the selected channels")
    def send_test(self, request: HttpRequest, queryset: QuerySet[AlertChannel]) -> None:
        for channel in queryset.select_related("partner"):
            delivery = channel_test(channel=channel)
            level = (
                messages.SUCCESS if delivery.status == AlertDelivery.Status.SENT else messages.ERROR
            )
            self.message_user(
                request,
                f"{channel.name}: {delivery.status}"
                + (f" ({delivery.last_error})" if delivery.last_error else ""),
                level,
            )


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "alert",
        "channel",
        "event",
        "level",
        "status",
        "attempts",
        "sent_at",
    ]
    list_filter = ["status", "event", "level"]
    list_select_related = ["alert", "channel"]
    inlines = [AttemptInline]
    show_full_result_count = False


audit_trail_register(AlertChannel)
