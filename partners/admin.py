"""Operators' console: partners, staff, API keys, wallets, customers."""

from __future__ import annotations

from typing import cast

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from common.admin import audit_trail_register
from partners.models import (
    APIKey,
    BackupCodeDevice,
    Customer,
    Membership,
    Partner,
    PartnerWallet,
)
from partners.services import api_key_revoke


class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Membership
    raw_id_fields = ["user"]
    extra = 0


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "slug",
        "status",
        "contact_email",
        "warning_threshold",
        "critical_threshold",
        "emergency_threshold",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["name", "slug", "contact_email"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    exclude = ["webhook_secret"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "partner", "role", "created_at"]
    list_filter = ["role", "partner"]
    list_select_related = ["user", "partner"]
    search_fields = ["user__username", "user__email", "partner__name"]
    raw_id_fields = ["user"]
    autocomplete_fields = ["partner"]


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Keys are issued through the API or `seed_demo`; here they are listed and revoked."""

    list_display = ["prefix", "name", "partner", "role", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["role", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["partner"]
    search_fields = ["prefix", "name", "partner__name"]
    readonly_fields = [
        "prefix",
        "hashed_key",
        "created_by",
        "last_used_at",
        "revoked_at",
        "created_at",
    ]
    fields = ["partner", "name", "role", *readonly_fields]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: APIKey | None = None) -> list[str]:
        # A key never changes hands: moving it would open another partner's data to its holder.
        return [*self.readonly_fields, "partner", "role"]

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        revoked = sum(api_key_revoke(api_key=key) for key in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)


@admin.register(PartnerWallet)
class PartnerWalletAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["address", "label", "partner", "verified_at"]
    list_select_related = ["partner"]
    list_filter = [("verified_at", admin.EmptyFieldListFilter)]
    search_fields = ["address", "label", "partner__name"]
    autocomplete_fields = ["partner"]
    # Only a verified signature sets these (pools/services/wallets.py), never a form.
    readonly_fields = ["verified_at", "verification_message", "signature"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["external_ref", "user", "partner", "created_at"]
    list_select_related = ["user", "partner"]
    list_filter = ["partner"]
    search_fields = ["external_ref", "user__username", "partner__name"]
    raw_id_fields = ["user"]
    autocomplete_fields = ["partner"]


# --- Second factors ----------------------------------------------------------------------
# django-otp's own device admins show a TOTP key when adding, link to the key's QR code, and
# list static tokens in plain text. Nobody, staff included, may read another person's second
# factor: devices are listed and can be deleted (to reset a lost phone; `manage.py
# create_admin NAME --reset-device` issues new ones), never read, added or edited here.
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)


class _SecondFactorAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["user__username"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(_SecondFactorAdmin):
    pass


@admin.register(BackupCodeDevice)
class BackupCodeDeviceAdmin(_SecondFactorAdmin):
    list_display = [*_SecondFactorAdmin.list_display, "codes_left"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[BackupCodeDevice]:
        # django-otp is untyped, so the device's manager is too.
        return cast(
            "QuerySet[BackupCodeDevice]",
            BackupCodeDevice.objects.select_related("user").annotate(codes_left=Count("codes")),
        )

    @admin.display(description="codes left", ordering="codes_left")
    def codes_left(self, obj: BackupCodeDevice) -> int:
        return int(getattr(obj, "codes_left", 0))


audit_trail_register(Partner, APIKey, Membership, PartnerWallet)
