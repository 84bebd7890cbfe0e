"""Input serializers that take JSON exactly as the schema declares it.

`StrictInputSerializer` refuses unknown fields and non-object bodies, and checks every
value's JSON type against its field before DRF sees it, so nothing is coerced:

- an integer is a JSON integer (not `"1"`, `1.0` or `true`) within the signed 64 bits the
  database holds (a larger id would overflow the driver);
- a boolean is `true` or `false` (DRF would take `"yes"`, `1`, `"0"` …);
- a string (text, choice, e-mail, address …) is a JSON string (not `5`), kept exactly as
  sent: leading or trailing white space and control characters are errors, never trimmed
  away, and a non-empty string must show a visible character (not only spaces or invisible
  format characters such as U+200B);
- a decimal amount is a JSON string matching the pattern the schema states: ASCII digits
  and at most one point (Python's `Decimal` would also take "1_000", "1E+2", " 5" and
  Arabic-Indic digits).

The checks apply to plain DRF fields as well; the fields below add what the schema should
say (`StrictDecimalField`'s exact pattern, `StrictIntegerField`'s 64-bit bounds) and
switch off DRF's trimming, so use them in new input serializers.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from functools import lru_cache
from typing import Any

from rest_framework import serializers

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Invisible on their own: separators (Z*), format characters such as U+200B (Cf),
# control characters (Cc), unassigned code points (Cn).
INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cf", "Cc", "Cn"})

Field = serializers.Field[Any, Any, Any, Any]


@lru_cache(maxsize=64)
def decimal_pattern(*, max_digits: int, decimal_places: int, signed: bool = False) -> str:
    """The schema's pattern of an amount: ASCII digits, an optional point and places."""
    sign = "-?" if signed else ""
    whole = max_digits - decimal_places
    if decimal_places == 0:
        return rf"^{sign}[0-9]{{1,{whole}}}$"
    return rf"^{sign}[0-9]{{1,{whole}}}(\.[0-9]{{1,{decimal_places}}})?$"


def _pattern_of(field: serializers.DecimalField) -> str:
    pattern = getattr(field, "pattern", None)
    if pattern:
        return str(pattern)
    min_value = field.min_value
    assert field.max_digits is not None
    assert field.decimal_places is not None
    return decimal_pattern(
        max_digits=field.max_digits,
        decimal_places=field.decimal_places,
        signed=min_value is None or Decimal(min_value) < 0,
    )


def json_type_errors(field: Field, value: Any) -> list[str]:
    """Why `value` is not what `field` declares in JSON (empty when it is)."""
    if value is None:
        return []  # the field's own allow_null decides
    if isinstance(field, QueryIntegerField):
        return []  # a query string's text: the field checks its digits itself
    if isinstance(field, serializers.BooleanField):
        return [] if isinstance(value, bool) else ["Must be true or false."]
    if isinstance(field, serializers.IntegerField):
        if type(value) is not int:  # bool is an int subclass: refused too
            return ["Must be a JSON integer."]
        if not INT64_MIN <= value <= INT64_MAX:
            return ["Out of range."]
        return []
    if isinstance(field, serializers.DecimalField):
        if not isinstance(value, str):
            return ['Must be a JSON string, e.g. "12.5".']
        if not re.fullmatch(_pattern_of(field), value, re.ASCII):
            return [
                f"Digits with an optional decimal point, at most {field.decimal_places} places."
            ]
        return []
    if isinstance(field, serializers.CharField | serializers.ChoiceField):
        if not isinstance(value, str):
            return ["Must be a JSON string."]
        return _text_errors(value)
    return []


def _text_errors(value: str) -> list[str]:
    categories = [unicodedata.category(char) for char in value]
    if any(category in ("Cc", "Cs") for category in categories):
        return ["Control characters are not allowed."]
    if value != value.strip():
        return ["No leading or trailing white space."]
    if value and all(category in INVISIBLE_CATEGORIES for category in categories):
        return ["Must contain a visible character."]
    return []


class StrictCharField(serializers.CharField):
    """Text exactly as sent: DRF's trimming is off (surrounding white space is an error)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["trim_whitespace"] = False
        super().__init__(**kwargs)


class StrictEmailField(serializers.EmailField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs["trim_whitespace"] = False
        super().__init__(**kwargs)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, never wider than the database's signed 64 bits."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["min_value"] = max(kwargs.get("min_value", INT64_MIN), INT64_MIN)
        kwargs["max_value"] = min(kwargs.get("max_value", INT64_MAX), INT64_MAX)
        super().__init__(**kwargs)


class QueryIntegerField(StrictIntegerField):
    """A whole number in a query string: ASCII digits only (no sign, space, point, exponent
    or another script's digits, which Python's int() would take), within 64 bits."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and not _QUERY_DIGITS.fullmatch(data):
            self.fail("invalid")
        value: int = super().to_internal_value(data)
        return value


_QUERY_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)


class StrictDecimalField(serializers.DecimalField):
    """A non-negative amount as a JSON string matching `pattern`, which the schema states
    (`common/api/schema.py`)."""

    def __init__(self, *, max_digits: int, decimal_places: int, **kwargs: Any) -> None:
        min_value = kwargs.get("min_value")
        if min_value is None or Decimal(min_value) < 0:
            raise ValueError("StrictDecimalField takes non-negative amounts: set min_value ≥ 0")
        self.pattern = decimal_pattern(max_digits=max_digits, decimal_places=decimal_places)
        super().__init__(max_digits=max_digits, decimal_places=decimal_places, **kwargs)


class StrictInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Rejects any key it does not declare, so a typo never passes silently, and any value
    whose JSON type is not the declared one (`json_type_errors`)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        fields = self.fields
        errors: dict[str, list[str]] = {
            name: ["Unknown field."] for name in sorted(set(data) - set(fields))
        }
        for name, value in data.items():
            field = fields.get(name)
            if field is None or field.read_only:
                continue
            if problems := json_type_errors(field, value):
                errors[name] = problems
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
