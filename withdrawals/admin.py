"""Operators' console: withdrawals with their attempts, queue, fees, balances and holds.

Money and its records are shown, never edited here (`ReadOnlyAdmin`): an edited amount or
address, a deleted hold or queue entry, or an attempt marked dead by hand would bypass the
rules the services keep and strand funds. Changes go through the actions, which call them.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from common.admin import ReadOnlyAdmin, ServiceAddAdmin, audit_trail_register
from common.errors import DependencyUnavailable
from common.forms import ServiceModelForm
from common.idempotency import IdempotencyError
from pools.chain.errors import ChainError
from withdrawals.models import (
    Attempt,
    Balance,
    Credit,
    Currency,
    EmergencyFee,
    Hold,
    QueueEntry,
    Withdrawal,
)
from withdrawals.services.balances import balance_credit
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
class WithdrawalAdmin(ReadOnlyAdmin):
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
            except (DependencyUnavailable, ChainError) as exc:
                self.message_user(
                    request,
                    f"#{withdrawal.pk}: the TRON node is not answering ({exc}); try again.",
                    messages.ERROR,
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
class AttemptAdmin(ReadOnlyAdmin):
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
class QueueEntryAdmin(ReadOnlyAdmin):
    list_display = ["withdrawal", "partner", "energy_needed", "enqueued_at"]
    list_select_related = ["partner", "withdrawal"]
    list_filter = ["partner"]
    raw_id_fields = ["withdrawal", "partner"]


@admin.register(EmergencyFee)
class EmergencyFeeAdmin(ReadOnlyAdmin):
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
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ["customer", "currency", "available", "held", "updated_at"]
    list_select_related = ["customer"]
    list_filter = ["currency", "customer__partner"]
    search_fields = ["customer__external_ref", "customer__user__username"]
    raw_id_fields = ["customer"]
    readonly_fields = ["available", "held"]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["id", "withdrawal", "balance", "amount", "state", "resolved_at"]
    list_select_related = ["balance", "withdrawal"]
    list_filter = ["state"]
    raw_id_fields = ["withdrawal", "balance"]


class CreditForm(ServiceModelForm):
    """A credit is applied by the balances service, once per form (a double submit credits
    once)."""

    class Meta:
        model = Credit
        fields = ["customer", "currency", "amount", "reference"]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if self.errors:
            return data
        amount = data["amount"]
        assert isinstance(amount, Decimal)
        if amount <= 0:
            self.add_error("amount", "Must be positive.")
            return data
        try:
            self.created, applied = balance_credit(
                customer=data["customer"],
                currency=Currency(data["currency"]),
                amount=amount,
                idempotency_key=self.idempotency_key(data),
                reference=str(data.get("reference") or ""),
            )
            self.replayed = not applied
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        except IdempotencyError as exc:  # a twin submit in flight, or the key reused
            self.add_error(None, exc.message)
        return data


@admin.register(Credit)
class CreditAdmin(ServiceAddAdmin, ReadOnlyAdmin):
    """Credits for demos and tests (a deposit the partner received): added here or through
    the partner API, never edited or deleted."""

    list_display = ["created_at", "customer", "currency", "amount", "idempotency_key", "reference"]
    list_select_related = ["customer"]
    list_filter = ["currency"]
    search_fields = ["idempotency_key", "reference", "customer__external_ref"]
    raw_id_fields = ["customer"]
    add_form = CreditForm
    add_fields = ["customer", "currency", "amount", "reference", "token"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return True


audit_trail_register(Credit)
