"""An alert's lifecycle: open, escalate, de-escalate, re-notify, resolve, acknowledge.

One open alert per (pool, kind), (partner, kind) for partner-wide ones, or kind alone for
the platform's own (no partner): partial unique constraints (alerts/models.py) make that
hold under concurrency. Every change of level, and the resolution, is a *transition*: it
runs with the alert's row locked, bumps `sequence`, publishes a live event and writes one
`AlertDelivery` per matching channel (unique per alert, channel and sequence), sent after
commit. Two processes evaluating the same condition at once therefore produce one
transition, and one delivery per channel.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from alerts.models import LEVEL_RANK, AlertChannel, AlertDelivery, EnergyAlert, Level
from common.events import ADMIN_GROUP, partner_group, publish_on_commit

logger = logging.getLogger(__name__)

Event = AlertDelivery.Event


def _open_alert(
    *, partner_id: int | None, pool_id: int | None, kind: EnergyAlert.Kind
) -> EnergyAlert | None:
    scope = Q(partner__isnull=True) if partner_id is None else Q(partner_id=partner_id)
    scope &= Q(pool__isnull=True) if pool_id is None else Q(pool_id=pool_id)
    return (
        EnergyAlert.objects.select_for_update()
        .filter(scope, kind=kind, resolved_at__isnull=True)
        .first()
    )


def _groups(partner_id: int | None) -> list[str]:
    return [ADMIN_GROUP] if partner_id is None else [ADMIN_GROUP, partner_group(partner_id)]


def _publish(alert: EnergyAlert, event: str) -> None:
    publish_on_commit(
        event=f"alert.{event}",
        groups=_groups(alert.partner_id),
        payload={
            "alert_id": alert.pk,
            "kind": alert.kind,
            "level": alert.level,
            "pool_id": alert.pool_id,
            "resolved": alert.resolved_at is not None,
        },
        partner_id=alert.partner_id,
    )


def channel_wants(channel: AlertChannel, *, kind: str, level: str) -> bool:
    """Whether `channel` is sent alerts of `kind` at `level` (its minimum level and kinds)."""
    if LEVEL_RANK[Level(level)] < LEVEL_RANK[Level(channel.min_level)]:
        return False
    return not channel.kinds or kind in channel.kinds


def _channels_for(alert: EnergyAlert) -> list[AlertChannel]:
    """Active channels that take this alert: the partner's own and the operators'."""
    scope = Q(partner__isnull=True)
    if alert.partner_id is not None:
        scope |= Q(partner_id=alert.partner_id)
    return [
        channel
        for channel in AlertChannel.objects.filter(scope, is_active=True)
        if channel_wants(channel, kind=alert.kind, level=alert.level)
    ]


def _transition(alert: EnergyAlert, event: str) -> list[AlertDelivery]:
    """Publish `event` and record one delivery per channel for the alert's current sequence.

    Runs inside the transaction that changed the alert (its row locked); the deliveries are
    enqueued once it commits.
    """
    from alerts.services.delivery import deliveries_enqueue_on_commit

    _publish(alert, event)
    deliveries = AlertDelivery.objects.bulk_create(
        AlertDelivery(
            alert=alert, channel=channel, event=event, sequence=alert.sequence, level=alert.level
        )
        for channel in _channels_for(alert)
    )
    deliveries_enqueue_on_commit([d.pk for d in deliveries])
    return deliveries


def alert_raise(
    *,
    partner_id: int | None,
    pool_id: int | None,
    kind: EnergyAlert.Kind,
    level: Level,
    message: str,
    value: Decimal | int | float | None = None,
    threshold: Decimal | int | float | None = None,
    lower: bool = False,
) -> EnergyAlert:
    """Open the alert, or update the open one.

    A higher level escalates it (and clears its acknowledgement: a graver condition needs
    acknowledging afresh); with `lower`, a lower level de-escalates it, else the level is
    kept (callers that only ever raise one level). Idempotent: the same condition raised
    again changes only the message and value, and is no transition.
    """
    level = Level(level)
    for _ in range(2):
        try:
            with transaction.atomic():
                alert = _open_alert(partner_id=partner_id, pool_id=pool_id, kind=kind)
                now = timezone.now()
                if alert is None:
                    alert = EnergyAlert.objects.create(
                        partner_id=partner_id,
                        pool_id=pool_id,
                        kind=kind,
                        level=level,
                        message=message,
                        value=value,
                        threshold=threshold,
                        opened_at=now,
                        last_notified_at=now,
                    )
                    _transition(alert, Event.OPENED)
                    return alert
                rank, current = LEVEL_RANK[level], LEVEL_RANK[Level(alert.level)]
                event = ""
                fields = ["message", "value", "threshold", "updated_at"]
                before = (alert.message, alert.value)
                if rank > current:
                    event = Event.ESCALATED
                    alert.acknowledged_at = alert.acknowledged_by = None
                    alert.acknowledged_by_label = alert.acknowledged_note = ""
                    fields += [
                        "acknowledged_at",
                        "acknowledged_by",
                        "acknowledged_by_label",
                        "acknowledged_note",
                    ]
                elif rank < current and lower:
                    event = Event.DEESCALATED
                alert.message, alert.value, alert.threshold = message, value, threshold
                if event:
                    alert.level = level
                    alert.sequence += 1
                    alert.last_notified_at = now
                    fields += ["level", "sequence", "last_notified_at"]
                alert.save(update_fields=fields)
                if event:
                    _transition(alert, event)
                elif before != (alert.message, alert.value):
                    _publish(alert, "updated")
                return alert
        except IntegrityError:
            continue  # another process opened it between our read and insert: update that one
    raise RuntimeError(f"could not open or find the {kind} alert")  # pragma: no cover


def alert_resolve(*, alert_id: int, message: str = "") -> bool:
    """Resolve the alert if it is still open (a transition: delivered, published).
    Returns whether this call resolved it."""
    with transaction.atomic():
        alert = EnergyAlert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None or alert.resolved_at is not None:
            return False
        alert.resolved_at = timezone.now()
        alert.sequence += 1
        fields = ["resolved_at", "sequence", "updated_at"]
        if message:
            alert.message = message
            fields.append("message")
        alert.save(update_fields=fields)
        _transition(alert, Event.RESOLVED)
        return True


def _resolve_all(ids: Iterable[int]) -> int:
    return sum(alert_resolve(alert_id=pk) for pk in ids)


def alerts_resolve(*, kind: EnergyAlert.Kind, keep_pool_ids: set[int]) -> int:
    """Resolve open pool alerts of `kind` except those on `keep_pool_ids` (still breached)."""
    return _resolve_all(
        EnergyAlert.objects.filter(kind=kind, resolved_at__isnull=True, pool__isnull=False)
        .exclude(pool_id__in=keep_pool_ids)
        .values_list("pk", flat=True)
    )


def alert_acknowledge(
    *, alert: EnergyAlert, user_id: int | None, label: str, note: str = ""
) -> EnergyAlert:
    """Record who acknowledged the open alert, when, and why (stops its re-notification
    until it escalates). Acknowledging an acknowledged alert again changes nothing.
    Raises `ValidationError` for a resolved alert."""
    with transaction.atomic():
        locked = EnergyAlert.objects.select_for_update().get(pk=alert.pk)
        if locked.resolved_at is not None:
            raise ValidationError({"alert": ["This alert is resolved."]})
        if locked.acknowledged_at is not None:
            return locked
        locked.acknowledged_at = timezone.now()
        locked.acknowledged_by_id = user_id
        locked.acknowledged_by_label = label[:150]
        locked.acknowledged_note = note
        locked.save(
            update_fields=[
                "acknowledged_at",
                "acknowledged_by",
                "acknowledged_by_label",
                "acknowledged_note",
                "updated_at",
            ]
        )
        _publish(locked, "acknowledged")
        return locked


def alerts_renotify(*, now: datetime | None = None) -> int:
    """Tell the channels again about every open critical or emergency alert nobody has
    acknowledged for `ALERT_RENOTIFY_MINUTES`. Safe to run concurrently: the row lock and
    the re-check make each re-notification happen once. Returns alerts re-notified."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.ALERT_RENOTIFY_MINUTES)
    due = Q(
        resolved_at__isnull=True,
        acknowledged_at__isnull=True,
        level__in=[Level.CRITICAL, Level.EMERGENCY],
        last_notified_at__lt=cutoff,
    )
    done = 0
    for pk in EnergyAlert.objects.filter(due).values_list("pk", flat=True):
        with transaction.atomic():
            alert = EnergyAlert.objects.select_for_update().filter(due, pk=pk).first()
            if alert is None:
                continue
            alert.sequence += 1
            alert.last_notified_at = now
            alert.save(update_fields=["sequence", "last_notified_at", "updated_at"])
            _transition(alert, Event.RENOTIFIED)
            done += 1
    return done
