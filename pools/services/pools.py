"""Pool settings: label and threshold overrides."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError

from pools.events import pool_changed
from pools.models import EnergyPool


def pool_update_settings(
    *,
    pool: EnergyPool,
    label: str | None = None,
    thresholds: dict[str, Decimal | None] | None = None,
) -> EnergyPool:
    """Change a pool's label and threshold overrides (None clears an override).

    Raises `ValidationError` if the effective thresholds would not be ordered
    warning ≤ critical ≤ emergency.
    """
    fields: list[str] = []
    if label is not None:
        pool.label = label
        fields.append("label")
    for name, value in (thresholds or {}).items():
        setattr(pool, name, value)
        fields.append(name)
    warning, critical, emergency = pool.effective_thresholds()
    if not warning <= critical <= emergency:
        raise ValidationError(
            {"non_field_errors": ["Thresholds must satisfy warning ≤ critical ≤ emergency."]}
        )
    if fields:
        pool.save(update_fields=[*fields, "updated_at"])
        pool_changed(pool=pool, reason="settings")
    return pool
