"""Alert writes: the lifecycle (lifecycle.py), the rules (rules.py), delivery (delivery.py),
channels (channels.py). Callers elsewhere import the lifecycle from here."""

from alerts.services.lifecycle import (
    alert_acknowledge,
    alert_raise,
    alert_resolve,
    alerts_resolve,
)

__all__ = [
    "alert_acknowledge",
    "alert_raise",
    "alert_resolve",
    "alerts_resolve",
]
