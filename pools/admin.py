"""Operators' console: pools with their live numbers, snapshots, usage, ledger, prices."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import InlineModelAdmin
from django.core.exceptions import PermissionDenied, ValidationError
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
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from common.admin import ReadOnlyAdmin, audit_trail_register
from common.idempotency import IdempotencyError
from common.tron import SUN_PER_TRX
from pools.chain.errors import ChainError
from pools.models import (
    AVAILABLE_ENERGY,
    EnergyPool,
    EnergyShare,
    EnergyUsageLog,
    PoolSnapshot,
    PriceQuote,
    RentalOrder,
    Reservation,
    ReserveGrant,
    SigningKey,
    StakingOperation,
)
from pools.selectors import RECENT_USAGE_DAYS, days_until_depleted, staking_operation_for_key
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
        fields = ["label", "role", *THRESHOLD_FIELDS, "share_priority", "is_reserve"]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("is_reserve") and (
            self.instance.custody != EnergyPool.Custody.CUSTODIAL
            or data.get("role", self.instance.role) != EnergyPool.Role.ENERGY
        ):
            self.add_error(
                "is_reserve",
                "A reserve lends by delegating its stake: only a custodial energy pool can be one.",
            )
        changed = {name: data.get(name) for name in THRESHOLD_FIELDS if name in self.changed_data}
        if changed and not self.errors:
            try:
                # The instance still holds the stored values (the form's own come later).
                pool_settings_check(pool=self.instance, thresholds=changed)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field if field in self.fields else None, errors)
        return data


class ReserveGrantInline(admin.TabularInline):  # type: ignore[type-arg]
    """The partners granted a draw on a reserve pool, on the pool's page."""

    model = ReserveGrant
    fk_name = "pool"
    extra = 0
    fields = ["partner", "max_energy", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["partner"]


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
    list_filter = ["status", "custody", "role", "is_reserve", "partner"]
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
    inlines = [ReserveGrantInline]

    def get_inlines(
        self, request: HttpRequest, obj: EnergyPool | None
    ) -> list[type[InlineModelAdmin]]:  # type: ignore[type-arg]
        # Grants are made on a reserve's own page, not while onboarding a pool.
        return [ReserveGrantInline] if obj is not None and obj.is_reserve else []

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
        self, request: HttpRequest, queryset: QuerySet[EnergyPool], status: EnergyPool.Status
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


@admin.register(EnergyShare)
class EnergyShareAdmin(ReadOnlyAdmin):
    """Energy lent between a partner's pools: made and given back only by `rebalance_pools`
    (predictions/services/rebalance.py), each step a staking operation with its reason."""

    list_display = [
        "id",
        "partner",
        "donor",
        "receiver",
        "amount_sun",
        "energy",
        "state",
        "lock_period_blocks",
        "created_at",
        "returned_at",
        "reason",
    ]
    list_select_related = ["partner", "donor", "receiver"]
    list_filter = ["state"]
    search_fields = ["donor__address", "receiver__address", "partner__name"]
    raw_id_fields = ["donor", "receiver", "delegate_operation", "undelegate_operation"]
    show_full_result_count = False


@admin.register(ReserveGrant)
class ReserveGrantAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Which partners may draw from which operator reserve pool, and how much at a time
    (predictions/services/rebalance.py lends within the cap after the partner's own pools).
    Deleting a grant stops new loans; loans out are given back by the usual rule."""

    list_display = ["id", "pool", "partner", "max_energy", "drawn", "created_at"]
    list_select_related = ["pool", "partner"]
    list_filter = ["pool"]
    search_fields = ["pool__address", "pool__label", "partner__name"]
    autocomplete_fields = ["pool", "partner"]
    fields = ["pool", "partner", "max_energy"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReserveGrant]:
        loans = EnergyShare.objects.filter(
            donor_id=OuterRef("pool_id"),
            partner_id=OuterRef("partner_id"),
            state__in=EnergyShare.OPEN_STATES,
        )
        drawn = loans.order_by().values("partner_id").annotate(total=Sum("energy")).values("total")
        return super().get_queryset(request).annotate(drawn_energy=Coalesce(Subquery(drawn), 0))  # type: ignore[no-any-return]

    @admin.display(description="Drawn (open loans)", ordering="drawn_energy")
    def drawn(self, obj: ReserveGrant) -> int:
        return int(getattr(obj, "drawn_energy", 0))


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


class StakingSubmitForm(forms.Form):
    """A new operation's parameters, validated as types only: the staking service checks
    the rest (custody, amounts, receiver) when it is called. The hidden token makes a double
    submit of one rendered form one request (its idempotency key)."""

    pool = forms.ModelChoiceField(
        queryset=EnergyPool.objects.filter(custody=EnergyPool.Custody.CUSTODIAL).order_by("pk")
    )
    # A payment moves TRX out of the pool: only rental orders make one
    # (pools/services/rentals.py).
    kind = forms.ChoiceField(
        choices=[
            (value, label)
            for value, label in StakingOperation.Kind.choices
            if value != StakingOperation.Kind.PAYMENT
        ]
    )
    amount_trx = forms.DecimalField(
        required=False, max_digits=18, decimal_places=6, min_value=Decimal("0.000001")
    )
    receiver = forms.CharField(required=False, max_length=34, strip=False)
    lock_period_blocks = forms.IntegerField(min_value=0, initial=0)
    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def idempotency_key(self) -> str:
        return f"admin-{self.cleaned_data['token']}"


# The staking service's field names that the form calls otherwise.
SUBMIT_FIELDS = {"amount": "amount_trx"}


@admin.register(StakingOperation)
class StakingOperationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Operations are shown read-only; a new one is submitted on its own page
    (`submit_view`), which validates the form and then calls `staking_submit` outside any
    transaction: the service commits the signed operation before it broadcasts, and the
    admin's usual transaction around an add form would hold that commit back until after
    the broadcast (a crash between, and TRX moved on chain with no record of it)."""

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
        "reason",
    ]
    list_filter = ["kind", "state"]
    list_select_related = ["pool"]
    search_fields = ["txid", "pool__address", "receiver"]
    raw_id_fields = ["pool"]
    show_full_result_count = False

    def get_urls(self) -> list[URLPattern]:
        submit = path(
            "submit/",
            self.admin_site.admin_view(self.submit_view),
            name="pools_stakingoperation_submit",
        )
        return [submit, *super().get_urls()]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The admin's "Add" button leads to the submit page."""
        return redirect("admin:pools_stakingoperation_submit")

    def submit_view(self, request: HttpRequest) -> HttpResponse:
        """Validate the form, then submit through the service (no transaction open here)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = StakingSubmitForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            operation = self._submit(request, form)
            if operation is not None:
                url = reverse("admin:pools_stakingoperation_change", args=[operation.pk])
                return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Submit a staking operation",
            "form": form,
        }
        return TemplateResponse(request, "admin/pools/stakingoperation/submit.html", context)

    def _submit(self, request: HttpRequest, form: StakingSubmitForm) -> StakingOperation | None:
        data = form.cleaned_data
        pool: EnergyPool = data["pool"]
        key = form.idempotency_key()
        amount: Decimal | None = data.get("amount_trx")
        replayed = staking_operation_for_key(pool=pool, key=key) is not None
        try:
            operation = staking_submit(
                pool=pool,
                kind=StakingOperation.Kind(data["kind"]),
                amount_sun=None if amount is None else int(amount * SUN_PER_TRX),
                receiver=data.get("receiver") or "",
                lock_period_blocks=data["lock_period_blocks"],
                idempotency_key=key,
                requested_by_id=getattr(request.user, "pk", None),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                target = SUBMIT_FIELDS.get(field, field)
                form.add_error(target if target in form.fields else None, errors)
            return None
        except IdempotencyError as exc:  # a twin submit in flight, or the key reused
            form.add_error(None, exc.message)
            return None
        except ChainError as exc:  # nothing was recorded (the service says so)
            form.add_error(None, f"The TRON node is not answering ({exc}); try again.")
            return None
        if not replayed:  # a double submit is one addition in the log
            self.log_addition(request, operation, [{"added": {}}])
        self.message_user(request, f"Operation {operation.txid} submitted.", messages.SUCCESS)
        return operation

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

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


audit_trail_register(EnergyPool, ReserveGrant)
