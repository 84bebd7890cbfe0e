"""Live events: services publish typed hints after commit; consumers forward them.

A push is only a hint (docs/protocols.md, Live events): pages re-fetch state over HTTP on
(re)connect, so a lost message costs nothing. Publishing therefore never raises into the
caller, and it happens only after the surrounding transaction commits, so nobody is told
about state that was rolled back. Delivery runs on a background thread, so a request never waits for
Redis to pass a hint on.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import queue
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypedDict

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


class _Publisher:
    """Delivers hints in order on one background thread per process, off the request path.

    The thread keeps its own event loop, so the channel layer's Redis connections live as
    long as the process instead of one set per request. Each delivery has a deadline, and
    nothing a delivery raises stops the thread; a thread that died anyway is replaced on the
    next hint. The queue is bounded: when Redis is away and it fills up, further hints are
    dropped with a warning (they are only hints). A forked child (Celery's prefork) starts
    with fresh state; at exit, what is queued gets a moment to leave.
    """

    MAX_QUEUED = 10_000
    DELIVERY_SECONDS = 2.0

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[tuple[str, ...], LiveMessage]] = queue.Queue()
        self._idle = threading.Condition()
        self._unsent = 0
        self._thread: threading.Thread | None = None

    def submit(self, groups: tuple[str, ...], message: LiveMessage) -> None:
        self._ensure_thread()
        with self._idle:
            if self._unsent >= self.MAX_QUEUED:
                logger.warning("live event %s dropped: delivery is behind", message["event"])
                return
            self._unsent += 1
        self._queue.put((groups, message))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far was delivered (or dropped); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unsent == 0, timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-events", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        while True:
            groups, message = self._queue.get()
            try:
                loop.run_until_complete(self._deliver(groups, message))
            except BaseException:  # never let one hint end the thread
                logger.warning("live event %s not delivered", message["event"], exc_info=True)
            finally:
                with self._idle:
                    self._unsent -= 1
                    self._idle.notify_all()

    async def _deliver(self, groups: tuple[str, ...], message: LiveMessage) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        for group in groups:
            try:
                await asyncio.wait_for(layer.group_send(group, message), self.DELIVERY_SECONDS)
            except Exception:  # a hint that cannot be delivered is dropped, never fatal
                logger.warning(
                    "live event %s to %s not delivered", message["event"], group, exc_info=True
                )


_publisher = _Publisher()
atexit.register(_publisher.flush, 2.0)


def flush_live_events(timeout: float = 5.0) -> bool:
    """Wait for the hints published so far to be handed to the channel layer."""
    return _publisher.flush(timeout)


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
    transaction.on_commit(lambda: _publisher.submit(frozen, message))
