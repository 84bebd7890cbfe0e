"""Sending deliveries: email, signed webhook, chat (apprise), each try logged.

A delivery is one Celery task (`alerts.tasks.deliver_alert`), enqueued after the
transaction that wrote it commits. A try first *claims* the delivery with a compare-and-set
(pending, due), which also leases it for the try's timeout: a duplicate task, or a second
worker, finds nothing to claim. A worker that dies mid-send leaves the delivery pending; once
its lease is over, `check_alerts` re-enqueues it (at least once, with `uid` for the
receiver to drop repeats). Failures are retried with exponential backoff and full jitter up
to `ALERT_DELIVERY_MAX_ATTEMPTS`. Each channel kind is called with a timeout, and each
delivery is its own task, so a hanging receiver delays nobody else.

Channel targets and secrets never reach a log line, an error text or the admin list:
errors are built from exception types and status codes, and scrubbed of the target.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts.models import AlertChannel, AlertDelivery, AlertDeliveryAttempt, EnergyAlert, Level

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Energy-Signature"
TIMESTAMP_HEADER = "X-Energy-Timestamp"
DELIVERY_HEADER = "X-Energy-Delivery"
# A try's lease outlasts its timeout by this much (a worker is not killed mid-try sooner).
LEASE_MARGIN = timedelta(seconds=30)


class SendFailed(Exception):
    """A try that did not reach the receiver, or that the receiver refused."""

    def __init__(self, error: str, *, status_code: int | None = None, timeout: bool = False):
        super().__init__(error)
        self.status_code = status_code
        self.timeout = timeout


@dataclass(frozen=True)
class TryResult:
    """What one try did: the delivery's status after it, and when to try again (seconds)."""

    status: str
    retry_in: float | None


def deliveries_enqueue(ids: list[int], *, countdown: float | None = None) -> None:
    """One task per delivery. A broker outage is logged, not raised: the sweep in
    `check_alerts` (`deliveries_requeue_stuck`) enqueues pending deliveries again."""
    from alerts.tasks import deliver_alert

    for pk in ids:
        try:
            if countdown is None:
                deliver_alert.apply_async((pk,))
            else:
                deliver_alert.apply_async((pk,), countdown=countdown)
        except Exception as exc:  # the broker is away: the sweep will pick it up
            logger.warning("alert delivery %s not enqueued: %s", pk, type(exc).__name__)


def deliveries_enqueue_on_commit(ids: list[int]) -> None:
    if ids:
        transaction.on_commit(lambda: deliveries_enqueue(ids))


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `timestamp.body` with the secret, hex (the `X-Energy-Signature`)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def delivery_payload(delivery: AlertDelivery) -> dict[str, Any]:
    """The JSON every channel is sent (email and chat as text)."""
    alert: EnergyAlert | None = delivery.alert
    data: dict[str, Any] = {
        "delivery_id": str(delivery.uid),
        "event": delivery.event,
        "sequence": delivery.sequence,
        "level": delivery.level,
        "alert": None,
    }
    if alert is None:
        data["message"] = "Test notification from Energy Platform: this channel works."
        return data
    data["alert"] = {
        "id": alert.pk,
        "partner_id": alert.partner_id,
        "pool_id": alert.pool_id,
        "pool_address": alert.pool.address if alert.pool is not None else None,
        "kind": alert.kind,
        "level": alert.level,
        "value": None if alert.value is None else str(alert.value),
        "threshold": None if alert.threshold is None else str(alert.threshold),
        "message": alert.message,
        "opened_at": alert.opened_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }
    data["message"] = alert.message
    return data


def _title(delivery: AlertDelivery) -> str:
    alert = delivery.alert
    if alert is None:
        return "[Energy Platform] test notification"
    where = f"pool {alert.pool.address}" if alert.pool is not None else "platform"
    if alert.partner_id is not None and alert.pool is None:
        where = f"partner {alert.partner_id}"
    return (
        f"[Energy Platform] {delivery.level.upper()} {alert.get_kind_display()} "
        f"({delivery.get_event_display().lower()}): {where}"
    )


def _text(delivery: AlertDelivery, payload: dict[str, Any]) -> str:
    lines = [str(payload["message"])]
    alert = payload["alert"]
    if alert:
        lines += [
            "",
            f"Level: {alert['level']}  Kind: {alert['kind']}  Event: {payload['event']}",
            f"Value: {alert['value']}  Threshold: {alert['threshold']}",
            f"Opened: {alert['opened_at']}",
        ]
    lines += ["", f"Delivery id: {payload['delivery_id']}"]
    return "\n".join(lines)


def webhook_secret_for(channel: AlertChannel) -> str:
    """The partner's webhook secret; the operators' own webhooks use
    `ALERT_OPERATOR_WEBHOOK_SECRET`."""
    if channel.partner is None:
        return str(settings.ALERT_OPERATOR_WEBHOOK_SECRET)
    return channel.partner.webhook_secret


def _send_email(channel: AlertChannel, delivery: AlertDelivery, payload: dict[str, Any]) -> None:
    connection = get_connection(timeout=settings.ALERT_DELIVERY_TIMEOUT_SECONDS)
    message = EmailMessage(
        subject=_title(delivery),
        body=_text(delivery, payload),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[channel.target],
        headers={DELIVERY_HEADER: payload["delivery_id"]},
        connection=connection,
    )
    try:
        message.send()
    except TimeoutError:
        raise SendFailed("mail server timed out", timeout=True) from None
    except Exception as exc:
        raise SendFailed(f"mail not sent: {type(exc).__name__}") from None


# Apprise schemes that POST to a host the partner names (the others call a chat service).
APPRISE_HTTP_SCHEMES = ("json", "jsons", "xml", "xmls", "form", "forms")


def _refuse_private_host(url: str) -> None:
    """Partners' URLs may not reach the platform's own network (loopback, private,
    link-local addresses), unless `ALERT_ALLOW_PRIVATE_TARGETS` (on in development)."""
    if settings.ALERT_ALLOW_PRIVATE_TARGETS:
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        raise SendFailed("the host does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local:
            raise SendFailed("the host is a private address: refused")


def _send_webhook(channel: AlertChannel, payload: dict[str, Any]) -> int:
    if channel.partner is not None:
        _refuse_private_host(channel.target)
    secret = webhook_secret_for(channel)
    if not secret:
        raise SendFailed("no webhook secret: rotate one first")
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "EnergyPlatform-Alerts/1",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        DELIVERY_HEADER: payload["delivery_id"],
    }
    timeout = settings.ALERT_DELIVERY_TIMEOUT_SECONDS
    try:
        response = httpx.post(
            channel.target, content=body, headers=headers, timeout=timeout, follow_redirects=False
        )
    except httpx.TimeoutException:
        raise SendFailed(f"no answer within {timeout:g} s", timeout=True) from None
    except httpx.HTTPError as exc:
        raise SendFailed(f"not reached: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise SendFailed(f"HTTP {response.status_code}", status_code=response.status_code)
    return response.status_code


def _send_apprise(channel: AlertChannel, delivery: AlertDelivery, payload: dict[str, Any]) -> None:
    import apprise

    if channel.partner is not None and channel.target.split(":", 1)[0] in APPRISE_HTTP_SCHEMES:
        _refuse_private_host("http" + channel.target[channel.target.index(":") :])
    plugin = apprise.Apprise.instantiate(channel.target)
    if not plugin:
        raise SendFailed("the chat URL is not one apprise knows")
    plugin.socket_connect_timeout = plugin.socket_read_timeout = float(
        settings.ALERT_DELIVERY_TIMEOUT_SECONDS
    )
    notifier = apprise.Apprise()
    notifier.add(plugin)
    if not notifier.notify(body=_text(delivery, payload), title=_title(delivery)):
        raise SendFailed("the chat service refused or did not answer")


def _send(delivery: AlertDelivery) -> int | None:
    """Send once; the receiver's status code for webhooks. Raises `SendFailed`."""
    channel = delivery.channel
    payload = delivery_payload(delivery)
    if channel.kind == AlertChannel.Kind.EMAIL:
        _send_email(channel, delivery, payload)
        return None
    if channel.kind == AlertChannel.Kind.WEBHOOK:
        return _send_webhook(channel, payload)
    if channel.kind == AlertChannel.Kind.APPRISE:
        _send_apprise(channel, delivery, payload)
        return None
    raise SendFailed(f"unknown channel kind {channel.kind}")


def _scrub(text: str, channel: AlertChannel) -> str:
    """The error without the channel's target or secret, whatever a library put in it."""
    for secret in (channel.target, webhook_secret_for(channel)):
        if secret:
            text = text.replace(secret, "***")
    return text[:500]


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter: up to base × 2^(attempt-1), capped."""
    ceiling = min(
        settings.ALERT_DELIVERY_BACKOFF_MAX_SECONDS,
        settings.ALERT_DELIVERY_BACKOFF_SECONDS * 2 ** (attempt - 1),
    )
    return float(random.uniform(ceiling / 2, ceiling))


def _claim(delivery_id: int, now: datetime) -> bool:
    lease = timedelta(seconds=settings.ALERT_DELIVERY_TIMEOUT_SECONDS) + LEASE_MARGIN
    return bool(
        AlertDelivery.objects.filter(pk=delivery_id, status=AlertDelivery.Status.PENDING)
        .filter(Q(next_retry_at__isnull=True) | Q(next_retry_at__lte=now))
        .update(attempts=F("attempts") + 1, next_retry_at=now + lease, updated_at=now)
    )


def delivery_try(*, delivery_id: int, max_attempts: int | None = None) -> TryResult | None:
    """Try the delivery once, if it is pending and due (claimed by compare-and-set, so
    twin tasks send it once). Logs the try as an `AlertDeliveryAttempt`. Returns what
    happened, with the backoff before the next try on a failure that will be retried, or
    None when there was nothing to try (sent, given up, or another worker's try in flight).
    """
    now = timezone.now()
    if not _claim(delivery_id, now):
        return None
    delivery = AlertDelivery.objects.select_related("channel__partner", "alert__pool", "alert").get(
        pk=delivery_id
    )
    limit = max_attempts or settings.ALERT_DELIVERY_MAX_ATTEMPTS
    started = time.monotonic()
    outcome, status_code, error = AlertDeliveryAttempt.Outcome.SENT, None, ""
    try:
        status_code = _send(delivery)
    except SendFailed as exc:
        outcome = (
            AlertDeliveryAttempt.Outcome.TIMEOUT
            if exc.timeout
            else AlertDeliveryAttempt.Outcome.FAILED
        )
        status_code, error = exc.status_code, _scrub(str(exc), delivery.channel)
    except Exception as exc:  # a bug or an odd library error: logged, retried like others
        outcome, error = AlertDeliveryAttempt.Outcome.FAILED, f"error: {type(exc).__name__}"
    duration_ms = int((time.monotonic() - started) * 1000)
    AlertDeliveryAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        started_at=now,
        duration_ms=duration_ms,
        outcome=outcome,
        status_code=status_code,
        error=error,
    )
    done = timezone.now()
    if outcome == AlertDeliveryAttempt.Outcome.SENT:
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            status=AlertDelivery.Status.SENT,
            sent_at=done,
            next_retry_at=None,
            last_error="",
            updated_at=done,
        )
        return TryResult(status=AlertDelivery.Status.SENT, retry_in=None)
    logger.warning(
        "alert delivery %s (channel %s, try %s): %s",
        delivery.pk,
        delivery.channel_id,
        delivery.attempts,
        error,
    )
    if delivery.attempts >= limit:
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            status=AlertDelivery.Status.FAILED,
            next_retry_at=None,
            last_error=error,
            updated_at=done,
        )
        return TryResult(status=AlertDelivery.Status.FAILED, retry_in=None)
    delay = backoff_seconds(delivery.attempts)
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        next_retry_at=done + timedelta(seconds=delay), last_error=error, updated_at=done
    )
    return TryResult(status=AlertDelivery.Status.PENDING, retry_in=delay)


def deliveries_requeue_stuck(*, now: datetime | None = None, limit: int = 500) -> int:
    """Enqueue again pending deliveries whose task was lost (a broker outage, a worker
    killed mid-try): due for over `ALERT_DELIVERY_REQUEUE_AFTER_SECONDS`. A delivery still
    queued is only enqueued twice: the claim lets one try through."""
    now = now or timezone.now()
    late = now - timedelta(seconds=settings.ALERT_DELIVERY_REQUEUE_AFTER_SECONDS)
    ids = list(
        AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING)
        .filter(Q(next_retry_at__lt=late) | Q(next_retry_at__isnull=True, created_at__lt=late))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    deliveries_enqueue(ids)
    return len(ids)


def channel_test(*, channel: AlertChannel) -> AlertDelivery:
    """Send a test message to `channel` now (one try, logged like any other) and return
    its delivery."""
    delivery = AlertDelivery.objects.create(
        alert=None, channel=channel, event=AlertDelivery.Event.TEST, sequence=0, level=Level.WARNING
    )
    delivery_try(delivery_id=delivery.pk, max_attempts=1)
    delivery.refresh_from_db()
    return delivery
