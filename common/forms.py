"""Form and admin pieces that know no app."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.forms import ModelForm
from django.http import HttpRequest


class ServiceModelForm(forms.ModelForm):  # type: ignore[type-arg]
    """An admin add form whose row a service creates (validating it), once per rendered
    form: the hidden token, through `idempotency_key()`, makes a double submit one request.
    Subclasses call their service from `clean()`, keep its row in `created`, and say
    whether the service only returned the row an earlier submit made (`replayed`)."""

    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)
    # Set by `ServiceAddAdmin` for the logged-in operator.
    requested_by_id: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.created: Model | None = None
        self.replayed = False

    def _post_clean(self) -> None:
        # The service validates and creates the row; the model form must not.
        pass

    def idempotency_key(self, data: dict[str, Any]) -> str:
        return f"admin-{data['token']}"


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
