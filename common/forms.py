"""Form pieces that know no app."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.db.models import Model


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
