"""Operators' console: pools with their live numbers, snapshots, usage, ledger, prices."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    BigIntegerField,
    ExpressionWrapper,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from common.admin import ReadOnlyAdmin, ServiceAddAdmin, audit_trail_register
from common.forms import ServiceModelForm
from common.idempotency import IdempotencyError
from common.tron import SUN_PER_TRX
from pools.models import (
    AVAILABLE_ENERGY,
    EnergyPool,
    EnergyUsageLog,
    PoolSnapshot,
    PriceQuote,
    RentalOrder,
    Reservation,
    SigningKey,
    StakingOperation,
)
from pools.selectors import RECENT_USAGE_DAYS, days_until_depleted
from pools.services.onboarding import OnboardPlan, pool_onboard, pool_onboard_check, pool_set_status
from pools.services.pools import THRESHOLD_FIELDS, pool_settings_check, pool_update_settings
from pools.services.staking import staking_submit

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class RecentUsage(TypedDict):
    recent_usage: int


class PoolOnboardForm(forms.ModelForm):  # type: ignore[type-arg]
    """Adding a pool goes through the onboarding service: address checked on chain,
    key (if any) stored only encrypted and never rendered back."""

    private_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Hex private key: makes the pool custodial. Stored encrypted.",
    )
    generate_key = forms.BooleanField(
        required=False, help_text="Create a new custodial key (fund the address afterwards)."
    )

    class Meta:
        model = EnergyPool
        fields = ["partner", "address", "label", "role"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["address"].required = False
        self.fields["role"].required = False
        self.plan: OnboardPlan | None = None

    def _post_clean(self) -> None:
        # The model's own validation would demand an address; the service decides instead.
        pass

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        try:
            self.plan = pool_onboard_check(
                address=str(data.get("address") or ""),
                private_key_hex=str(data.get("private_key") or ""),
                generate_key=bool(data.get("generate_key")),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return data


class PoolChangeForm(forms.ModelForm):  # type: ignore[type-arg]
    """Changing a pool: threshold overrides are checked by the settings service, as the API
    does, so an order it refuses is a form error here too and nothing is saved."""

    class Meta:
        model = EnergyPool
        fields = ["label", "role", *THRESHOLD_FIELDS]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        changed = {name: data.get(name) for name in THRESHOLD_FIELDS if name in self.changed_data}
        if changed and not self.errors:
            try:
                # The instance still holds the stored values (the form's own come later).
                pool_settings_check(pool=self.instance, thresholds=changed)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field if field in self.fields else None, errors)
        return data


@admin.register(EnergyPool)
class EnergyPoolAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "__str__",
        "address",
        "partner",
        "custody",
        "role",
        "status",
        "energy_limit",
        "energy_used",
        "reserved_energy",
        "available",
        "usage",
        "days_left",
        "last_synced_at",
    ]
    list_filter = ["status", "custody", "role", "partner"]
    list_select_related = ["partner"]
    search_fields = ["address", "label", "partner__name"]
    autocomplete_fields = ["partner"]
    readonly_fields = [
        "staked_trx_sun",
        "energy_limit",
        "energy_used",
        "reserved_energy",
        "trx_balance_sun",
        "bandwidth_limit",
        "bandwidth_used",
        "last_synced_at",
        "last_sync_block",
        "last_sync_error",
        "available",
        "usage",
        "days_left",
    ]

    actions = ["pause", "resume", "drain", "archive"]

    def get_form(  # type: ignore[override]
        self, request: HttpRequest, obj: EnergyPool | None = None, **kwargs: object
    ) -> type[ModelForm]:  # type: ignore[type-arg]
        if obj is not None:
            kwargs["form"] = PoolChangeForm
        else:
            kwargs["form"] = PoolOnboardForm
            kwargs["fields"] = [
                "partner",
                "address",
                "label",
                "role",
                "private_key",
                "generate_key",
            ]
        return super().get_form(request, obj, **kwargs)  # type: ignore[arg-type]

    def get_readonly_fields(self, request: HttpRequest, obj: EnergyPool | None = None) -> list[str]:
        if obj is None:
            return []
        return [*self.readonly_fields, "address", "custody", "status", "partner"]

    def save_model(
        self,
        request: HttpRequest,
        obj: EnergyPool,
        form: ModelForm,  # type: ignore[type-arg]
        change: bool,
    ) -> None:
        if change:
            # Only what the form changed: a full save would write back the reserved energy
            # and chain numbers as read when the page was loaded, undoing reservations (and
            # syncs) made meanwhile. Label and thresholds go through the settings service.
            changed = form.changed_data
            thresholds = {name: getattr(obj, name) for name in THRESHOLD_FIELDS if name in changed}
            others = [name for name in changed if name not in (*THRESHOLD_FIELDS, "label")]
            with transaction.atomic():
                pool_update_settings(
                    pool=obj,
                    label=obj.label if "label" in changed else None,
                    thresholds=thresholds,
                )
                if others:
                    obj.save(update_fields=[*others, "updated_at"])
            return
        assert isinstance(form, PoolOnboardForm)
        assert form.plan is not None
        data = form.cleaned_data  # the model form's own construction is skipped
        pool = pool_onboard(
            partner=data["partner"],
            plan=form.plan,
            label=data.get("label") or "",
            role=data.get("role") or EnergyPool.Role.ENERGY,
        )
        obj.pk = pool.pk
        obj.address = pool.address

    def _set_status(
        self, request: HttpRequest, queryset: QuerySet[EnergyPool], status: str
    ) -> None:
        done = 0
        for pool in queryset:
            try:
                pool_set_status(pool=pool, status=status)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{pool}: {' '.join(exc.messages)}", messages.ERROR)
        self.message_user(request, f"{done} pool(s) now {status}.", messages.SUCCESS)

    @admin.action(description="Pause selected pools")
    def pause(self, request: HttpRequest, queryset: QuerySet[EnergyPool]) -> None:
        self._set_status(request, queryset, EnergyPool.Status.PAUSED)

    @admin.action(description="Resume selected pools")
    def resume(self, request: HttpRequest, queryset: QuerySet[EnergyPool]) -> None:
        self._set_status(request, queryset, EnergyPool.Status.ACTIVE)

    @admin.action(description="Drain selected pools (no new withdrawals)")
    def drain(self, request: HttpRequest, queryset: QuerySet[EnergyPool]) -> None:
        self._set_status(request, queryset, EnergyPool.Status.DRAINING)

    @admin.action(description="Archive selected pools")
    def archive(self, request: HttpRequest, queryset: QuerySet[EnergyPool]) -> None:
        self._set_status(request, queryset, EnergyPool.Status.ARCHIVED)

    def get_queryset(self, request: HttpRequest) -> QuerySet[EnergyPool]:
        since = timezone.now() - timedelta(days=RECENT_USAGE_DAYS)
        recent_usage = (
            EnergyUsageLog.objects.filter(pool=OuterRef("pk"), at__gte=since)
            .values("pool")
            .annotate(total=Sum("energy_used"))
            .values("total")
        )
        queryset: QuerySet[EnergyPool] = super().get_queryset(request)
        return queryset.annotate(
            available_energy_db=ExpressionWrapper(AVAILABLE_ENERGY, output_field=BigIntegerField()),
            recent_usage=Coalesce(Subquery(recent_usage), Value(0)),
        )

    @admin.display(description="Available energy", ordering="available_energy_db")
    def available(self, pool: EnergyPool) -> int:
        return pool.available_energy

    @admin.display(description="Usage %")
    def usage(self, pool: EnergyPool) -> Decimal:
        return pool.usage_percent

    @admin.display(description="Days of energy left")
    def days_left(self, pool: WithAnnotations[EnergyPool, RecentUsage]) -> str:
        """As the API reports it: at last week's rate, with the chain's recovery."""
        days = days_until_depleted(
            limit=pool.energy_limit,
            committed=pool.energy_used + pool.reserved_energy,
            daily_usage=(pool.recent_usage or 0) / RECENT_USAGE_DAYS,
        )
        return "sustainable" if days is None else f"{days:.1f}"


@admin.register(PoolSnapshot)
class PoolSnapshotAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "pool",
        "taken_at",
        "block_number",
        "energy_limit",
        "energy_used",
        "staked_trx_sun",
        "trx_balance_sun",
    ]
    list_select_related = ["pool"]
    list_filter = ["pool__partner"]
    raw_id_fields = ["pool"]
    date_hierarchy = "taken_at"
    show_full_result_count = False


@admin.register(EnergyUsageLog)
class EnergyUsageLogAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "at",
        "pool",
        "kind",
        "energy_used",
        "trx_burned_sun",
        "bandwidth_used",
        "txid",
        "withdrawal",
    ]
    list_select_related = ["pool"]
    list_filter = ["kind", "pool__partner"]
    search_fields = ["txid", "pool__address"]
    raw_id_fields = ["pool", "withdrawal"]
    date_hierarchy = "at"
    show_full_result_count = False


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    """The ledger is written only by its services; the console reads it."""

    list_display = [
        "id",
        "pool",
        "withdrawal",
        "estimated_energy",
        "state",
        "posted_energy",
        "expires_at",
        "created_at",
        "resolved_at",
    ]
    list_select_related = ["pool", "withdrawal"]
    list_filter = ["state"]
    raw_id_fields = ["pool", "withdrawal"]
    show_full_result_count = False


@admin.register(PriceQuote)
class PriceQuoteAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["quoted_at", "source", "kind", "price_sun", "duration_days", "min_energy"]
    list_filter = ["kind", "source"]
    date_hierarchy = "quoted_at"


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    """Addresses only: the ciphertext is never shown, keys are added by import only, and
    never deleted (a generated key exists only here: deleting it would lose the pool's
    funds)."""

    list_display = ["address", "created_at"]
    search_fields = ["address"]
    fields = ["address", "created_at"]
    readonly_fields = ["address", "created_at"]


class StakingOperationForm(ServiceModelForm):
    """New operations are built, signed and broadcast by the staking service, once per
    form (a double submit sends once)."""

    amount_trx = forms.DecimalField(
        required=False, max_digits=18, decimal_places=6, min_value=Decimal("0.000001")
    )

    class Meta:
        model = StakingOperation
        fields = ["pool", "kind", "receiver", "lock_period_blocks"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # A payment moves TRX out of the pool: only rental orders make one
        # (pools/services/rentals.py).
        kind = self.fields["kind"]
        assert isinstance(kind, forms.TypedChoiceField)
        kind.choices = [("", "---------")] + [
            (value, label)
            for value, label in StakingOperation.Kind.choices
            if value != StakingOperation.Kind.PAYMENT
        ]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if self.errors:
            return data
        amount = data.get("amount_trx")
        key = self.idempotency_key(data)
        self.replayed = StakingOperation.objects.filter(
            pool=data["pool"], idempotency_key=key
        ).exists()
        try:
            self.created = staking_submit(
                pool=data["pool"],
                kind=str(data["kind"]),
                amount_sun=None if amount is None else int(Decimal(str(amount)) * SUN_PER_TRX),
                receiver=str(data.get("receiver") or ""),
                lock_period_blocks=int(data.get("lock_period_blocks") or 0),
                idempotency_key=key,
                requested_by_id=self.requested_by_id,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                target = {"amount": "amount_trx"}.get(field, field)
                self.add_error(target if target in self.fields else None, errors)
        except IdempotencyError as exc:  # a twin submit in flight, or the key reused
            self.add_error(None, exc.message)
        return data


@admin.register(StakingOperation)
class StakingOperationAdmin(ServiceAddAdmin):
    list_display = [
        "created_at",
        "pool",
        "kind",
        "amount_sun",
        "receiver",
        "state",
        "energy_quote",
        "txid",
        "confirmed_at",
    ]
    list_filter = ["kind", "state"]
    list_select_related = ["pool"]
    search_fields = ["txid", "pool__address", "receiver"]
    raw_id_fields = ["pool"]
    show_full_result_count = False

    add_form = StakingOperationForm
    add_fields = ["pool", "kind", "amount_trx", "receiver", "lock_period_blocks", "token"]

    @csrf_protect_m  # type: ignore[untyped-decorator]  # Django's, untyped in the stubs
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, object] | None = None,
    ) -> HttpResponse:
        if object_id is None:
            # Adding submits through the staking service, which commits the signed
            # operation before it broadcasts. The admin's usual transaction around the
            # whole form would hold that commit back until after the broadcast: a crash
            # between, and TRX moved on chain with no record of it.
            # (Django's changeform_view is this call inside `transaction.atomic`.)
            response: HttpResponse = self._changeform_view(  # type: ignore[attr-defined]
                request, object_id, form_url, extra_context
            )
            return response
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(
        self, request: HttpRequest, obj: StakingOperation | None = None
    ) -> list[str]:
        if obj is None:
            return []
        return [f.name for f in StakingOperation._meta.fields]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(RentalOrder)
class RentalOrderAdmin(ReadOnlyAdmin):
    """Energy rented for pools by the `topup_pools` job (pools/services/rentals.py): why, what
    it cost, and where it stands; a failed order says why in `result`. Read-only: the job
    alone moves an order."""

    list_display = [
        "created_at",
        "pool",
        "provider",
        "energy",
        "days",
        "cost_sun",
        "state",
        "delivered_at",
        "result",
    ]
    list_filter = ["state", "provider"]
    list_select_related = ["pool"]
    search_fields = ["pool__address", "market_order_id", "payment__txid", "delegate_txid"]
    raw_id_fields = ["pool", "payment"]
    date_hierarchy = "created_at"
    show_full_result_count = False


audit_trail_register(EnergyPool)
