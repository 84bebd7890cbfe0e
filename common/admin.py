"""Admin pieces that know no app."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.forms import ModelForm
from django.http import HttpRequest

from common.forms import ServiceModelForm


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows shown, never added, edited or deleted here: records a service keeps (money,
    ledgers), where a hand edit would bypass the rules the service enforces."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ServiceAddAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """An admin whose rows are added through `add_form` (a `ServiceModelForm`): the service
    made the row, so saving only points the admin at it, and a replayed submit is not
    logged as a second addition."""

    add_form: type[ServiceModelForm]
    add_fields: list[str]

    def get_form(  # type: ignore[override]
        self, request: HttpRequest, obj: Model | None = None, **kwargs: Any
    ) -> type[ModelForm]:  # type: ignore[type-arg]
        if obj is not None:
            return super().get_form(request, obj, **kwargs)
        kwargs["form"] = self.add_form
        kwargs["fields"] = self.add_fields
        form = super().get_form(request, obj, **kwargs)
        user_id = getattr(request.user, "pk", None)
        return type(form.__name__, (form,), {"requested_by_id": user_id})

    def save_model(
        self,
        request: HttpRequest,
        obj: Model,
        form: ModelForm,  # type: ignore[type-arg]
        change: bool,
    ) -> None:
        if change:
            return
        assert isinstance(form, ServiceModelForm)
        assert form.created is not None
        obj.pk = form.created.pk
        obj._service_replayed = form.replayed  # type: ignore[attr-defined]

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        if getattr(obj, "_service_replayed", False):
            return None
        return super().log_addition(request, obj, message)


class AuditTrailAdmin(ReadOnlyAdmin):
    """One model's history (common/audit.py): who changed what, when, through which door.
    Find an object's changes by its id; filter by kind of change, door and date."""

    list_display = [
        "history_date",
        "history_type",
        "history_object",
        "history_user",
        "source",
        "api_key_prefix",
        "request_id",
    ]
    list_filter = ["history_type", "source", "history_date"]
    search_fields = ["=id", "api_key_prefix", "request_id", "history_user__username"]
    list_select_related = ["history_user"]
    date_hierarchy = "history_date"
    show_full_result_count = False


def audit_trail_register(*models: type[Model]) -> None:
    """Show each model's history in the admin (its `history` manager's model)."""
    for model in models:
        admin.site.register(model.history.model, AuditTrailAdmin)  # type: ignore[attr-defined]
