"""Reads about alerts."""

from __future__ import annotations

from django.db.models import Count

from alerts.models import EnergyAlert
from common.metrics import GaugeSample


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
