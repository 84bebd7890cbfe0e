"""Plain-Python output for the hot read paths (bench/reads.py): what DRF's DateTimeField and
DecimalField would write, without a field object's walk per value.

The views that use these keep their serializers' declared fields for the OpenAPI schema
(`extend_schema`), and their tests hold the hand-built output equal to the declared one.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import Decimal

from django.utils import timezone


def output_timezone() -> tzinfo:
    """The zone DRF writes datetimes in (the current one): look it up once per response."""
    return timezone.get_current_timezone()


def iso_datetime(value: datetime | None, tz: tzinfo) -> str | None:
    """As `serializers.DateTimeField().to_representation` (ISO 8601, `Z` for UTC)."""
    if value is None:
        return None
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_QUANTUM = {places: Decimal(1).scaleb(-places) for places in range(0, 7)}


def fixed_decimal(value: Decimal | None, places: int) -> str | None:
    """As `serializers.DecimalField(decimal_places=places).to_representation` (a string with
    exactly `places` decimals, half-even rounding)."""
    if value is None:
        return None
    return format(value.quantize(_QUANTUM[places]), "f")
