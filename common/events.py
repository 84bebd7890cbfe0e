"""Live events: services publish typed hints after commit; consumers forward them.

A push is only a hint (SPEC §6.6): pages re-fetch state over HTTP on (re)connect, so a
lost message costs nothing. Publishing therefore never raises into the caller, and it
happens only after the surrounding transaction commits, so nobody is told about state
that was rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

ADMIN_GROUP = "admin"


def partner_group(partner_id: int) -> str:
    return f"partner.{partner_id}"


def withdrawal_group(withdrawal_id: int) -> str:
    return f"withdrawal.{withdrawal_id}"


class LiveMessage(TypedDict):
    """What travels over the channel layer. `type` names the consumer handler."""

    type: Literal["live.event"]
    event: str
    partner_id: int | None
    payload: dict[str, Any]


def _send(groups: tuple[str, ...], message: LiveMessage) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:  # a hint that cannot be delivered is dropped, never fatal
            logger.warning(
                "live event %s to %s not delivered", message["event"], group, exc_info=True
            )


def publish_on_commit(
    *,
    event: str,
    groups: Iterable[str],
    payload: Mapping[str, Any],
    partner_id: int | None = None,
) -> None:
    """Send `event` to `groups` once the current transaction commits (now, if none is open).

    `partner_id` is the partner the event belongs to; consumers use it to re-check that the
    receiving socket may see it.
    """
    message: LiveMessage = {
        "type": "live.event",
        "event": event,
        "partner_id": partner_id,
        "payload": dict(payload),
    }
    frozen = tuple(groups)
    transaction.on_commit(lambda: _send(frozen, message))
