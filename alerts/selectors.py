"""Reads about alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from alerts.models import AlertChannel, AlertDelivery, EnergyAlert
from common.metrics import GaugeSample
from partners.selectors import Caller

RECENT = timedelta(hours=24)


def alert_open_summary() -> dict[str, object]:
    """Open alerts by level (for the status endpoint)."""
    return {
        "open_by_level": dict(
            EnergyAlert.objects.filter(resolved_at__isnull=True)
            .values_list("level")
            .annotate(n=Count("id"))
            .order_by("level")
        )
    }


def alert_gauges() -> list[GaugeSample]:
    """Open alerts by level and kind (for /metrics)."""
    rows = (
        EnergyAlert.objects.filter(resolved_at__isnull=True)
        .values_list("level", "kind")
        .annotate(n=Count("id"))
        .order_by("level", "kind")
    )
    return [
        GaugeSample("alerts_open", "Open alerts", float(n), {"level": level, "kind": kind})
        for level, kind, n in rows
    ]


def alert_list_for_partner(*, partner_id: int) -> QuerySet[EnergyAlert]:
    """The partner's alerts, newest first (pool address loaded)."""
    return (
        EnergyAlert.objects.filter(partner_id=partner_id)
        .select_related("pool")
        .order_by("-opened_at", "-pk")
    )


def alert_recent_or_open(
    queryset: QuerySet[EnergyAlert], *, now: datetime | None = None
) -> QuerySet[EnergyAlert]:
    """Alerts opened in the last 24 h, and every alert still open (the list's default)."""
    since = (now or timezone.now()) - RECENT
    return queryset.filter(Q(opened_at__gte=since) | Q(resolved_at__isnull=True))


def alert_get_for_caller(*, caller: Caller, alert_id: int) -> EnergyAlert:
    """The alert if it is the caller's partner's; 404 otherwise (never 403)."""
    alert = EnergyAlert.objects.select_related("pool").filter(pk=alert_id).first()
    if alert is None or alert.partner_id != caller.partner.pk:
        raise Http404
    return alert


def alert_get_for_staff(*, alert_id: int) -> EnergyAlert:
    """Any alert by id, for verified operators only (the console); 404 if there is none."""
    alert = EnergyAlert.objects.filter(pk=alert_id).first()
    if alert is None:
        raise Http404
    return alert


def channel_list_for_caller(*, caller: Caller) -> QuerySet[AlertChannel]:
    return AlertChannel.objects.filter(partner_id=caller.partner.pk).order_by("name", "pk")


def channel_get_for_caller(*, caller: Caller, channel_id: int) -> AlertChannel:
    """The caller's partner's channel; 404 otherwise (operators' channels included)."""
    channel = AlertChannel.objects.select_related("partner").filter(pk=channel_id).first()
    if channel is None or channel.partner_id != caller.partner.pk:
        raise Http404
    return channel


def delivery_with_tries(*, delivery_id: int) -> AlertDelivery:
    return AlertDelivery.objects.prefetch_related("tries").get(pk=delivery_id)


def alerts_open_of_kind(
    *, kind: EnergyAlert.Kind
) -> dict[tuple[int | None, int | None], dict[str, Any]]:
    """Open alerts of `kind` by (pool id, partner id): pk, level, message, value (one query)."""
    rows = (
        EnergyAlert.objects.filter(kind=kind, resolved_at__isnull=True)
        .order_by()
        .values("pk", "pool_id", "partner_id", "level", "message", "value")
    )
    return {(row["pool_id"], row["partner_id"]): dict(row) for row in rows}
