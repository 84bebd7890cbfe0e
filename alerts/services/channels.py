"""Alert channels: create, change, delete; the partner's webhook secret.

The partner dashboard lists the partner's channels (a cached read, common/readcache.py), so
every change of a partner's channel ends the partner's cached reads once it commits.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from rest_framework.exceptions import ValidationError

from alerts.models import AlertChannel
from common.readcache import partner_changed_on_commit
from partners.models import Partner

WEBHOOK_URL = URLValidator(schemes=["http", "https"])


def target_errors(*, kind: AlertChannel.Kind, target: str) -> list[str]:
    """Why `target` is no address for a channel of `kind` (empty when it is one). The
    target itself is never quoted back: it may hold a token."""
    if kind == AlertChannel.Kind.EMAIL:
        try:
            EmailValidator()(target)
        except DjangoValidationError:
            return ["Enter a valid email address."]
        return []
    if kind == AlertChannel.Kind.WEBHOOK:
        try:
            WEBHOOK_URL(target)
        except DjangoValidationError:
            return ["Enter a valid http(s) URL."]
        return []
    import apprise

    if apprise.Apprise.instantiate(target) is None:
        return ["Not a chat URL apprise knows (see https://github.com/caronc/apprise/wiki)."]
    return []


def _check_target(kind: AlertChannel.Kind, target: str) -> None:
    errors = target_errors(kind=kind, target=target)
    if errors:
        raise ValidationError({"target": errors})


def webhook_secret_rotate(*, partner: Partner) -> str:
    """A new webhook secret for the partner (returned once; the old one stops at once)."""
    secret = secrets.token_hex(32)
    Partner.objects.filter(pk=partner.pk).update(webhook_secret=secret)
    partner.webhook_secret = secret
    return secret


def channel_create(*, partner: Partner, data: dict[str, Any]) -> AlertChannel:
    """A channel for the partner. A first webhook channel gives the partner a webhook secret
    if it had none. Raises `ValidationError` (field `target`) for a bad address. The
    partner's cached reads end once it commits."""
    _check_target(data["kind"], data["target"])
    with transaction.atomic():
        channel = AlertChannel.objects.create(partner=partner, **data)
        if channel.kind == AlertChannel.Kind.WEBHOOK and not partner.webhook_secret:
            webhook_secret_rotate(partner=partner)
        partner_changed_on_commit(partner.pk)
    return channel


def channel_update(*, channel: AlertChannel, data: dict[str, Any]) -> AlertChannel:
    """Change name, target, minimum level, kinds or whether it is active (its kind stays).
    A partner's channel: the partner's cached reads end once it commits."""
    if "target" in data:
        _check_target(AlertChannel.Kind(channel.kind), data["target"])
    for field, value in data.items():
        setattr(channel, field, value)
    with transaction.atomic():
        channel.save(update_fields=[*data, "updated_at"])
        _partner_changed(channel)
    return channel


def channel_delete(*, channel: AlertChannel) -> None:
    """Delete the channel and its delivery log. A partner's channel: the partner's cached
    reads end once it commits."""
    with transaction.atomic():
        channel.delete()
        _partner_changed(channel)


def _partner_changed(channel: AlertChannel) -> None:
    """The channel's partner's cached reads end on commit (an operators' channel has none;
    the partner dashboard lists the partner's own)."""
    if channel.partner_id is not None:
        partner_changed_on_commit(channel.partner_id)
