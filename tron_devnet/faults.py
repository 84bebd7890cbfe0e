"""Fault injection switches (``POST /devnet/faults``), read by the chain and the HTTP middleware."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Faults:
    """Current faults.

    - ``drop_broadcasts``: the next N valid broadcasts answer success but are never included
      (-1: all of them until cleared); ``drop_txids``: those txids likewise.
    - ``server_busy``: the next N broadcasts answer ``SERVER_BUSY`` (-1: all until cleared).
    - ``latency_ms``: added to every request (including the control API).
    - ``refuse_until``: wall-clock (``time.time()``) until which the node looks dead.
    """

    drop_broadcasts: int = 0
    drop_txids: set[str] = field(default_factory=set)
    server_busy: int = 0
    latency_ms: int = 0
    refuse_until: float = 0.0

    def update(self, body: dict[str, Any]) -> None:
        """Apply a ``/devnet/faults`` body; keys absent stay unchanged, ``clear`` resets all."""
        if body.get("clear"):
            self.drop_broadcasts = 0
            self.drop_txids = set()
            self.server_busy = 0
            self.latency_ms = 0
            self.refuse_until = 0.0
        if "drop_broadcasts" in body:
            self.drop_broadcasts = _count(body["drop_broadcasts"])
        if "drop_txids" in body:
            self.drop_txids = {str(t).lower() for t in body["drop_txids"] or []}
        if "server_busy" in body:
            self.server_busy = _count(body["server_busy"])
        if "latency_ms" in body:
            self.latency_ms = max(0, int(body["latency_ms"]))
        if "refuse_seconds" in body:
            seconds = float(body["refuse_seconds"])
            self.refuse_until = time.time() + seconds if seconds > 0 else 0.0

    def take_server_busy(self) -> bool:
        if self.server_busy == 0:
            return False
        if self.server_busy > 0:
            self.server_busy -= 1
        return True

    def take_drop(self, txid: str) -> bool:
        if txid in self.drop_txids:
            return True
        if self.drop_broadcasts == 0:
            return False
        if self.drop_broadcasts > 0:
            self.drop_broadcasts -= 1
        return True

    def refusing(self) -> bool:
        return self.refuse_until > time.time()

    def to_json(self) -> dict[str, Any]:
        return {
            "drop_broadcasts": self.drop_broadcasts,
            "drop_txids": sorted(self.drop_txids),
            "server_busy": self.server_busy,
            "latency_ms": self.latency_ms,
            "refuse_seconds_left": max(0.0, round(self.refuse_until - time.time(), 3)),
        }


def _count(value: Any) -> int:
    """``true`` → -1 (until cleared), ``false``/None → 0, numbers as given."""
    if value is True:
        return -1
    if value is False or value is None:
        return 0
    return int(value)
