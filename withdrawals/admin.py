"""Operators' console: withdrawals with their attempts, queue, fees, balances and holds."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from withdrawals.models import (
    Attempt,
    Balance,
    Credit,
    EmergencyFee,
    Hold,
    QueueEntry,
    Withdrawal,
)
from withdrawals.services.requests import withdrawal_cancel, withdrawal_retry


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class AttemptInline(ReadOnlyInline):
    model = Attempt
    fields = readonly_fields = (
        "txid",
        "state",
        "broadcast_count",
        "expiration",
        "fee_limit_sun",
        "result",
        "block_number",
        "created_at",
    )


class HoldInline(ReadOnlyInline):
    model = Hold
    fields = readonly_fields = ("balance", "amount", "state", "resolved_at")


@admin.register(Withdrawal)
class WithdrawalAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "id",
        "created_at",
        "partner",
        "customer",
        "amount",
        "to_address",
        "mode",
        "status",
        "pool",
        "energy_used",
        "trx_burned_sun",
    ]
    list_filter = ["status", "mode", "partner"]
    list_select_related = ["partner", "customer", "pool"]
    search_fields = ["to_address", "idempotency_key", "customer__external_ref", "attempts__txid"]
    raw_id_fields = ["customer", "pool", "retry_of"]
    autocomplete_fields = ["partner"]
    readonly_fields = [
        "status",
        "request_hash",
        "energy_estimate",
        "energy_used",
        "trx_burned_sun",
        "bandwidth_used",
        "confirmed_at",
        "failure_reason",
        "created_at",
        "updated_at",
    ]
    inlines = [AttemptInline, HoldInline]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["cancel", "retry"]

    @admin.action(description="Retry selected failed withdrawals (a new, linked withdrawal)")
    def retry(self, request: HttpRequest, queryset: QuerySet[Withdrawal]) -> None:
        done = 0
        for withdrawal in queryset.select_related("customer"):
            try:
                withdrawal_retry(withdrawal=withdrawal)
                done += 1
            except ValidationError as exc:
                self.message_user(
                    request, f"#{withdrawal.pk}: {' '.join(exc.messages)}", messages.ERROR
                )
        self.message_user(request, f"Retried {done} withdrawal(s).", messages.SUCCESS)

    @admin.action(description="Cancel selected withdrawals (only before signing)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Withdrawal]) -> None:
        done = 0
        for withdrawal in queryset:
            try:
                withdrawal_cancel(withdrawal=withdrawal)
                done += 1
            except ValidationError as exc:
                self.message_user(
                    request, f"#{withdrawal.pk}: {' '.join(exc.messages)}", messages.ERROR
                )
        self.message_user(request, f"Cancelled {done} withdrawal(s).", messages.SUCCESS)


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "txid",
        "withdrawal",
        "state",
        "broadcast_count",
        "expiration",
        "result",
        "block_number",
        "created_at",
    ]
    list_filter = ["state"]
    search_fields = ["txid"]
    raw_id_fields = ["withdrawal"]
    readonly_fields = ["signed_transaction", "receipt"]
    show_full_result_count = False


@admin.register(QueueEntry)
class QueueEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["withdrawal", "pool", "energy_needed", "enqueued_at"]
    list_select_related = ["pool", "withdrawal"]
    list_filter = ["pool__partner"]
    raw_id_fields = ["withdrawal", "pool"]


@admin.register(EmergencyFee)
class EmergencyFeeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "withdrawal",
        "quoted_fee_sun",
        "energy_estimate",
        "energy_fee_sun",
        "recipient_holds_usdt",
        "expires_at",
        "paid_with",
        "payment_txid",
        "paid_at",
    ]
    list_filter = ["paid_with", "recipient_holds_usdt"]
    search_fields = ["payment_txid"]
    raw_id_fields = ["withdrawal"]


@admin.register(Balance)
class BalanceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["customer", "currency", "available", "held", "updated_at"]
    list_select_related = ["customer"]
    list_filter = ["currency", "customer__partner"]
    search_fields = ["customer__external_ref", "customer__user__username"]
    raw_id_fields = ["customer"]
    readonly_fields = ["available", "held"]


@admin.register(Hold)
class HoldAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "withdrawal", "balance", "amount", "state", "resolved_at"]
    list_select_related = ["balance", "withdrawal"]
    list_filter = ["state"]
    raw_id_fields = ["withdrawal", "balance"]


@admin.register(Credit)
class CreditAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["created_at", "customer", "currency", "amount", "idempotency_key", "reference"]
    list_select_related = ["customer"]
    list_filter = ["currency"]
    search_fields = ["idempotency_key", "reference", "customer__external_ref"]
    readonly_fields = [
        "customer",
        "currency",
        "amount",
        "idempotency_key",
        "reference",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # credits come through the API, once per key
