"""Opening, escalating and resolving alerts.

An alert opens once per (pool, kind) — or (partner, kind) for partner-wide ones — and the
partial unique constraints make that hold under concurrency: a second opener finds the
open one and escalates it if its level is higher.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.utils import timezone

from alerts.models import LEVEL_RANK, EnergyAlert, Level
from common.events import ADMIN_GROUP, partner_group, publish_on_commit


def _open_alert(*, partner_id: int, pool_id: int | None, kind: str) -> EnergyAlert | None:
    return (
        EnergyAlert.objects.select_for_update()
        .filter(partner_id=partner_id, pool_id=pool_id, kind=kind, resolved_at__isnull=True)
        .first()
    )


def alert_raise(
    *,
    partner_id: int,
    pool_id: int | None,
    kind: str,
    level: Level,
    message: str,
    value: Decimal | int | None = None,
    threshold: Decimal | int | None = None,
) -> EnergyAlert:
    """Open the alert, or update the open one (escalating, never lowering, its level).

    Idempotent: raising the same condition again changes nothing but the message and value.
    """
    for _ in range(2):
        try:
            with transaction.atomic():
                alert = _open_alert(partner_id=partner_id, pool_id=pool_id, kind=kind)
                if alert is None:
                    alert = EnergyAlert.objects.create(
                        partner_id=partner_id,
                        pool_id=pool_id,
                        kind=kind,
                        level=level,
                        message=message,
                        value=value,
                        threshold=threshold,
                        opened_at=timezone.now(),
                    )
                    event = "alert.opened"
                else:
                    escalated = LEVEL_RANK[Level(level)] > LEVEL_RANK[Level(alert.level)]
                    before = (alert.message, alert.value)
                    alert.level = level if escalated else alert.level
                    alert.message, alert.value, alert.threshold = message, value, threshold
                    fields = ["level", "message", "value", "threshold", "updated_at"]
                    if escalated:  # a graver condition needs acknowledging afresh
                        alert.acknowledged_at = alert.acknowledged_by = None
                        fields += ["acknowledged_at", "acknowledged_by"]
                    alert.save(update_fields=fields)
                    changed = before != (alert.message, alert.value)
                    event = "alert.escalated" if escalated else "alert.updated" if changed else ""
                if event:
                    publish_on_commit(
                        event=event,
                        groups=[ADMIN_GROUP, partner_group(partner_id)],
                        payload={"alert_id": alert.pk, "kind": kind, "level": alert.level},
                        partner_id=partner_id,
                    )
                return alert
        except IntegrityError:
            continue  # another process opened it between our read and insert: update that one
    raise RuntimeError(f"could not open or find the {kind} alert")  # pragma: no cover


def alerts_resolve(*, kind: str, keep_pool_ids: set[int]) -> int:
    """Resolve open pool alerts of `kind` except those on `keep_pool_ids` (still breached)."""
    return (
        EnergyAlert.objects.filter(kind=kind, resolved_at__isnull=True, pool__isnull=False)
        .exclude(pool_id__in=keep_pool_ids)
        .update(resolved_at=Now())
    )


def partner_alerts_resolve(*, kind: str, keep_partner_ids: set[int]) -> int:
    """Resolve open partner-wide alerts (no pool) of `kind` except those of
    `keep_partner_ids` (still breached)."""
    return (
        EnergyAlert.objects.filter(kind=kind, resolved_at__isnull=True, pool__isnull=True)
        .exclude(partner_id__in=keep_partner_ids)
        .update(resolved_at=Now())
    )
