"""Alerts about pools and partners, where they are sent, and every delivery attempt."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from common.audit import audited
from common.models import BaseModel
from partners.models import Partner
from pools.models import EnergyPool


class Level(models.TextChoices):
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"
    EMERGENCY = "emergency", "Emergency"


LEVEL_RANK = {Level.WARNING: 1, Level.CRITICAL: 2, Level.EMERGENCY: 3}


class EnergyAlert(BaseModel):
    """An open condition on a pool, a partner as a whole, or (no partner) the platform.

    One open alert per (scope, kind). `sequence` counts its transitions (opened, escalated,
    de-escalated, re-notified, resolved): each transition is delivered once per channel.
    """

    class Kind(models.TextChoices):
        USAGE = "usage", "Energy usage threshold"
        DEPLETION_FORECAST = "depletion_forecast", "Forecast depletion"
        STALE_SYNC = "stale_sync", "Stale sync"
        NODE_UNREACHABLE = "node_unreachable", "TRON node unreachable"
        QUEUE_BACKLOG = "queue_backlog", "Queue backlog"
        LOW_TRX = "low_trx", "TRX balance too low for burns"
        EXTERNAL_DRAIN = "external_drain", "Energy used outside the platform"
        LEDGER_INVARIANT = "ledger_invariant", "Ledger invariant breached"
        WITHDRAWAL_FAILED = "withdrawal_failed", "Withdrawal needs a person"
        RENTAL_FAILED = "rental_failed", "Energy rental order failed"
        RENTAL_STUCK = "rental_stuck", "Energy rental order paid and stuck"

    # None: an operator-wide alert (the TRON node), seen by operators only.
    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
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
    # Who acknowledged, as shown: a username, or an API key's prefix and name.
    acknowledged_by_label = models.CharField(max_length=150, blank=True)
    acknowledged_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    sequence = models.PositiveIntegerField(default=1)
    # When its channels were last told (open, escalation, re-notification).
    last_notified_at = models.DateTimeField(null=True, blank=True)

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
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(resolved_at__isnull=True, partner__isnull=True),
                name="alert_one_open_per_operator_kind",
            ),
            models.CheckConstraint(
                name="alert_pool_has_partner",
                condition=Q(pool__isnull=True) | Q(partner__isnull=False),
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
            models.Index(
                fields=["kind", "level"],
                condition=Q(resolved_at__isnull=True),
                name="alert_open_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.level} {self.kind} ({self.pool_id or self.partner_id or 'platform'})"

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
    # May hold a token (chat URLs): never logged, shown masked in lists (`target_masked`).
    target = models.CharField(max_length=500, help_text="Email address, webhook URL or apprise URL")
    min_level = models.CharField(max_length=16, choices=Level.choices, default=Level.WARNING)
    # Alert kinds sent to this channel; empty means every kind.
    kinds = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)

    # The target may carry a token (apprise URLs): its changes are recorded, not its text.
    history = audited(exclude=["target"])

    class Meta:
        ordering = ["partner_id", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def target_masked(self) -> str:
        """The target without secrets: an email address as is, a URL as scheme and host."""
        return mask_target(self.kind, self.target)


def mask_target(kind: str, target: str) -> str:
    """What may be shown of a channel's target: an address, or a URL's scheme and host."""
    if kind == AlertChannel.Kind.EMAIL:
        return target
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(target)
        host = parts.hostname or ""
    except ValueError:
        return "***"
    return f"{parts.scheme}://{host}/***" if parts.scheme else "***"


class AlertDelivery(BaseModel):
    """One transition of one alert (or a test message) sent to one channel.

    `uid` travels with every try (header `X-Alert-Delivery`, body `delivery_id`) so a
    receiver can drop repeats: sending is at least once. Every try is an `AlertDeliveryAttempt`.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"

    class Event(models.TextChoices):
        OPENED = "opened", "Opened"
        ESCALATED = "escalated", "Escalated"
        DEESCALATED = "deescalated", "De-escalated"
        RENOTIFIED = "renotified", "Re-notified (not acknowledged)"
        RESOLVED = "resolved", "Resolved"
        TEST = "test", "Test message"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # None for a channel's test message.
    alert = models.ForeignKey(
        EnergyAlert, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=16, choices=Event.choices, default=Event.OPENED)
    sequence = models.PositiveIntegerField(default=1)
    level = models.CharField(max_length=16, choices=Level.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Pending: not to be tried before this (a retry's backoff, or a try in flight's lease).
    next_retry_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "alert deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "sequence"],
                condition=Q(alert__isnull=False),
                name="delivery_once_per_transition_channel",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_retry_at"], condition=Q(status="pending"), name="delivery_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} → {self.channel_id} ({self.status})"


class AlertDeliveryAttempt(models.Model):
    """One try of a delivery: its outcome, the receiver's status code, the error, how long."""

    class Outcome(models.TextChoices):
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        TIMEOUT = "timeout", "Timed out"

    delivery = models.ForeignKey(AlertDelivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="attempt_once_per_number")
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number} {self.outcome}"
