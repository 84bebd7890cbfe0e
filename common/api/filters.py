"""Query-parameter filters that check their input before it reaches SQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from common.api.serializers import INT64_MAX

_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)


class IdFormField(forms.Field):
    """A database id in a query string: ASCII digits only (no sign, space, point, exponent
    or other script's digits), 1 to 2^63 − 1, so it can never overflow the driver."""

    default_error_messages = {"invalid": "Enter a whole number from 1 to 9223372036854775807."}

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        text = str(value)
        if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= INT64_MAX:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(text)


class IdFilter(filters.Filter):  # type: ignore[misc]  # django-filter is untyped
    """Filter on a foreign key or id given as `?name=<id>`, range-checked (`IdFormField`)."""

    field_class = IdFormField


class UtcDateTimeFormField(filters.IsoDateTimeFilter.field_class):  # type: ignore[misc]
    """An ISO 8601 time, converted to UTC here: an offset the database cannot take
    (`-23:00`) or a time that leaves the calendar in UTC is a field error, not a 500."""

    def to_python(self, value: Any) -> datetime | None:
        parsed: datetime | None = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError("Enter a valid date and time.", code="invalid") from None


class UtcDateTimeFilter(filters.IsoDateTimeFilter):  # type: ignore[misc]
    field_class = UtcDateTimeFormField


def filtered(
    filterset_class: type[filters.FilterSet], request: Request, queryset: QuerySet[Any]
) -> QuerySet[Any]:
    """`queryset` narrowed by the request's query parameters through `filterset_class`; a
    400 with the parameters' errors when one is invalid."""
    filterset = filterset_class(request.query_params, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    result: QuerySet[Any] = filterset.qs
    return result
