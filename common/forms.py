"""Form pieces that know no app."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms


class ServiceModelForm(forms.ModelForm):  # type: ignore[type-arg]
    """An admin add form whose row a service creates (validating it), once per rendered
    form: the hidden token, through `idempotency_key()`, makes a double submit one request.
    Subclasses call their service from `clean()` and keep what it returns."""

    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def _post_clean(self) -> None:
        # The service validates and creates the row; the model form must not.
        pass

    def idempotency_key(self, data: dict[str, Any]) -> str:
        return f"admin-{data['token']}"
