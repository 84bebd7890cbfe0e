"""Pool settings: label and threshold overrides."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from partners.models import Partner
from pools.events import pool_changed
from pools.models import EnergyPool

THRESHOLD_FIELDS = ("warning_threshold", "critical_threshold", "emergency_threshold")


def pool_settings_check(
    *, pool: EnergyPool, thresholds: Mapping[str, Decimal | None] | None = None
) -> None:
    """Raise `ValidationError` if `thresholds` (overrides to apply; None clears one) would
    leave the pool's effective thresholds out of the order warning ≤ critical ≤ emergency.
    Changes nothing: forms call it to refuse before anything is saved."""
    values = {name: getattr(pool, name) for name in THRESHOLD_FIELDS}
    for name, value in (thresholds or {}).items():
        if name not in values:
            raise ValueError(f"{name} is not a pool threshold")
        values[name] = value
    partner = pool.partner
    warning = values["warning_threshold"] or partner.warning_threshold
    critical = values["critical_threshold"] or partner.critical_threshold
    emergency = values["emergency_threshold"] or partner.emergency_threshold
    if not warning <= critical <= emergency:
        raise ValidationError(
            {"non_field_errors": ["Thresholds must satisfy warning ≤ critical ≤ emergency."]}
        )


def pool_update_settings(
    *,
    pool: EnergyPool,
    label: str | None = None,
    thresholds: dict[str, Decimal | None] | None = None,
    share_priority: int | None = None,
) -> EnergyPool:
    """Change a pool's label, threshold overrides (None clears an override) and sharing
    priority (1–100: its weight when short pools share a donor's surplus,
    predictions/services/rebalance.py); only those columns are written, so reservations and
    syncs made meanwhile stand.

    Raises `ValidationError` (nothing saved) if the effective thresholds would not be
    ordered warning ≤ critical ≤ emergency. That order is checked against the pool's and its
    partner's rows as they are under their locks (the partner's, then the pool's: the order
    `rental_order_plan` takes them in), never against `pool` as the caller loaded it: another
    request may have changed either in between, and the database has no constraint across
    the two rows to catch it. Returns the pool as saved.
    """
    if share_priority is not None and not 1 <= share_priority <= 100:
        raise ValidationError({"share_priority": ["Between 1 and 100."]})
    with transaction.atomic():
        # FOR NO KEY UPDATE: the rows that reference them (reservations, usage logs, orders)
        # are still inserted meanwhile; `partner_update` (FOR UPDATE) waits, and so do we.
        partner = Partner.objects.select_for_update(no_key=True).get(pk=pool.partner_id)
        locked = EnergyPool.objects.select_for_update(no_key=True).get(pk=pool.pk)
        locked.partner = partner
        pool_settings_check(pool=locked, thresholds=thresholds)
        fields: list[str] = []
        if label is not None:
            locked.label = label
            fields.append("label")
        for name, value in (thresholds or {}).items():
            setattr(locked, name, value)
            fields.append(name)
        if share_priority is not None:
            locked.share_priority = share_priority
            fields.append("share_priority")
        if fields:
            locked.save(update_fields=[*fields, "updated_at"])
            pool_changed(pool=locked, reason="settings")
    return locked
