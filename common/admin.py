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
