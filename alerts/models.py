"""Alerts about pools and partners, where they are sent, and every delivery attempt."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from common.models import BaseModel
from partners.models import Partner
from pools.models import EnergyPool


class Level(models.TextChoices):
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"
    EMERGENCY = "emergency", "Emergency"


LEVEL_RANK = {Level.WARNING: 1, Level.CRITICAL: 2, Level.EMERGENCY: 3}


class EnergyAlert(BaseModel):
    """An open condition on a pool (or a partner as a whole). One open alert per (pool, kind)."""

    class Kind(models.TextChoices):
        USAGE = "usage", "Energy usage threshold"
        DEPLETION_FORECAST = "depletion_forecast", "Forecast depletion"
        STALE_SYNC = "stale_sync", "Stale sync"
        NODE_UNREACHABLE = "node_unreachable", "TRON node unreachable"
        QUEUE_BACKLOG = "queue_backlog", "Queue backlog"
        LOW_TRX = "low_trx", "TRX balance too low for burns"
        LEDGER_INVARIANT = "ledger_invariant", "Ledger invariant breached"
        WITHDRAWAL_FAILED = "withdrawal_failed", "Withdrawal needs a person"

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="alerts")
    pool = models.ForeignKey(
        EnergyPool, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    level = models.CharField(max_length=16, choices=Level.choices)
    value = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    threshold = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    message = models.TextField()
    opened_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["pool", "kind"],
                condition=Q(resolved_at__isnull=True, pool__isnull=False),
                name="alert_one_open_per_pool_kind",
            ),
            models.UniqueConstraint(
                fields=["partner", "kind"],
                condition=Q(resolved_at__isnull=True, pool__isnull=True),
                name="alert_one_open_per_partner_kind",
            ),
            models.CheckConstraint(
                name="alert_ack_has_time",
                condition=Q(acknowledged_by__isnull=True) | Q(acknowledged_at__isnull=False),
            ),
        ]
        indexes = [
            models.Index(
                fields=["partner", "-opened_at"],
                condition=Q(resolved_at__isnull=True),
                name="alert_open_partner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.level} {self.kind} ({self.pool_id or self.partner_id})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class AlertChannel(BaseModel):
    """A destination for alerts. `partner` None means the operator's own channel."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Signed webhook"
        APPRISE = "apprise", "Chat (apprise URL)"

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_channels"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target = models.CharField(max_length=500, help_text="Email address, webhook URL or apprise URL")
    min_level = models.CharField(max_length=16, choices=Level.choices, default=Level.WARNING)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["partner_id", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class AlertDelivery(BaseModel):
    """One alert (at one level) sent to one channel, with every try counted."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"

    alert = models.ForeignKey(EnergyAlert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    level = models.CharField(max_length=16, choices=Level.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "alert deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "level"], name="delivery_once_per_alert_channel_level"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_retry_at"], condition=Q(status="pending"), name="delivery_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} → {self.channel_id} ({self.status})"
