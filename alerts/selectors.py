"""Reads about alerts."""

from __future__ import annotations

from django.db.models import Count

from alerts.models import EnergyAlert


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
