"""Live events: services publish typed hints after commit; consumers forward them.

A push is only a hint (docs/protocols.md, Live events): pages re-fetch state over HTTP on
(re)connect, so a lost message costs nothing. Publishing therefore never raises into the
caller, and it happens only after the surrounding transaction commits, so nobody is told
about state that was rolled back. Delivery runs on a background thread, so a request never waits for
Redis to pass a hint on.

A hint published with a `coalesce` key (pool numbers: one busy pool may change many times a
second) reaches each group at most once per `COALESCE_SECONDS`, across every process: the
first one of a window is sent at once (it claims the window with one `SET NX EX` in Redis),
and the newest of the rest is sent when the window is over, unless another process claimed
the next window first — that process's hint left after ours was published, and a page
re-fetches the whole state on any hint, so it covers ours.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import transaction

from common.readcache import partner_changed_on_commit

logger = logging.getLogger(__name__)

ADMIN_GROUP = "admin"
COALESCE_SECONDS = 1


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


@dataclass
class _Outgoing:
    groups: tuple[str, ...]
    message: LiveMessage
    coalesce: str | None


class _Publisher:
    """Delivers hints in order on one background thread per process, off the request path.

    The thread keeps its own event loop, so the channel layer's Redis connections live as
    long as the process instead of one set per request. Each delivery has a deadline, and
    nothing a delivery raises stops the thread; a thread that died anyway is replaced on the
    next hint. The queue is bounded: when Redis is away and it fills up, further hints are
    dropped with a warning (they are only hints). A forked child (Celery's prefork) starts
    with fresh state; at exit, what is queued gets a moment to leave.

    Coalesced hints are held per (group, key) until their window is over; `flush` waits for
    them too. `_unsent` counts deliveries still owed: one per plain hint, one per group of a
    coalesced one.
    """

    MAX_QUEUED = 10_000
    DELIVERY_SECONDS = 2.0

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Outgoing] = queue.Queue()
        self._idle = threading.Condition()
        self._unsent = 0
        self._thread: threading.Thread | None = None
        # (group, coalesce key) -> (when to try again, the newest hint held back)
        self._held: dict[tuple[str, str], tuple[float, LiveMessage]] = {}

    def submit(self, groups: tuple[str, ...], message: LiveMessage, coalesce: str | None) -> None:
        self._ensure_thread()
        units = len(groups) if coalesce else 1
        with self._idle:
            if self._unsent >= self.MAX_QUEUED:
                logger.warning("live event %s dropped: delivery is behind", message["event"])
                return
            self._unsent += units
        self._queue.put(_Outgoing(groups, message, coalesce))

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

    def _done(self, units: int = 1) -> None:
        with self._idle:
            self._unsent -= units
            self._idle.notify_all()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        while True:
            wait = None
            if self._held:
                wait = max(0.0, min(due for due, _ in self._held.values()) - time.monotonic())
            try:
                outgoing: _Outgoing | None = self._queue.get(timeout=wait)
            except queue.Empty:
                outgoing = None
            try:
                if outgoing is not None:
                    self._handle(loop, outgoing)
                self._release_due(loop)
            except BaseException:  # never let one hint end the thread
                logger.warning("live events not delivered", exc_info=True)

    def _handle(self, loop: asyncio.AbstractEventLoop, outgoing: _Outgoing) -> None:
        if outgoing.coalesce is None:
            try:
                loop.run_until_complete(self._deliver(outgoing.groups, outgoing.message))
            finally:
                self._done()
            return
        for group in outgoing.groups:
            key = (group, outgoing.coalesce)
            if key in self._held:
                # The held one is superseded by this newer hint: one delivery fewer owed.
                due, _ = self._held[key]
                self._held[key] = (due, outgoing.message)
                self._done()
            elif self._claim(group, outgoing.coalesce):
                self._send_one(loop, group, outgoing.message)
            else:
                self._held[key] = (time.monotonic() + COALESCE_SECONDS, outgoing.message)

    def _release_due(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        for key, (due, message) in list(self._held.items()):
            if due > now:
                continue
            del self._held[key]
            group, coalesce = key
            if self._claim(group, coalesce):
                self._send_one(loop, group, message)
            else:
                self._done()  # another process sent one after ours was published

    def _send_one(self, loop: asyncio.AbstractEventLoop, group: str, message: LiveMessage) -> None:
        try:
            loop.run_until_complete(self._deliver((group,), message))
        finally:
            self._done()

    @staticmethod
    def _claim(group: str, coalesce: str) -> bool:
        """Take this window for (group, key) in Redis; True if no hint went out in it yet."""
        try:
            return bool(cache.add(f"live:{group}:{coalesce}", 1, timeout=COALESCE_SECONDS))
        except Exception:  # Redis away: the delivery will fail on its own, and say so
            return True

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
    coalesce: str | None = None,
) -> None:
    """Send `event` to `groups` once the current transaction commits (now, if none is open).

    `partner_id` is the partner the event belongs to; consumers use it to re-check that the
    receiving socket may see it. With `coalesce`, hints sharing that key reach each group at
    most once per `COALESCE_SECONDS` (the newest of a window is sent when it ends).
    """
    message: LiveMessage = {
        "type": "live.event",
        "event": event,
        "partner_id": partner_id,
        "payload": dict(payload),
    }
    frozen = tuple(groups)
    if partner_id is not None:  # the partner's cached reads end with this commit
        partner_changed_on_commit(partner_id)
    transaction.on_commit(lambda: _publisher.submit(frozen, message, coalesce))
