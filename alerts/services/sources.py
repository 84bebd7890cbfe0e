"""Facts the alert rules need from apps above alerts (the queue, emergency burns).

Alerts sit below withdrawals (docs/architecture.md): the rules never import withdrawals.
Withdrawals registers a source for each fact from its `AppConfig.ready`; until one is
registered (or in a project without withdrawals) the rules see no queue and no burns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class QueueFacts:
    """One partner's withdrawal queue, as the backlog and depletion rules read it."""

    count: int
    oldest: datetime
    energy: int  # energy all queued withdrawals need
    unservable: int  # entries none of the partner's sending pools could ever cover
    unservable_energy: int  # the oldest such entry's need (0: none)
    largest_limit: int | None  # the largest sending pool's limit (None: no sending pool)


QueueSource = Callable[[], dict[int, QueueFacts]]
BurnSource = Callable[[], dict[int, int]]
_queue_source: list[QueueSource] = []
_burn_source: list[BurnSource] = []


def queue_source_register(source: QueueSource) -> None:
    """`source()` returns the queue's facts by partner id (a constant number of queries)."""
    _queue_source[:] = [source]


def burn_source_register(source: BurnSource) -> None:
    """`source()` returns, by emergency wallet (pool id), the sun its paid, unsent
    emergency withdrawals will burn (a constant number of queries)."""
    _burn_source[:] = [source]


def queues() -> dict[int, QueueFacts]:
    return _queue_source[0]() if _queue_source else {}


def emergency_burns() -> dict[int, int]:
    return _burn_source[0]() if _burn_source else {}
