"""Short-lived caches of a partner's heavy reads, dropped the moment its data changes.

The partner dashboard, the energy monitor and the pool list are read far more often than a
partner's numbers change, and each costs a pass over every pool (docs/architecture.md,
Read caching). Their results are cached for `READS_CACHE_SECONDS` under the partner's *read
version*: a token in the shared cache that `publish_on_commit` (common/events.py) replaces
when a transaction that touched the partner commits, before its live hint leaves. Every
write that publishes a live event for the partner (pool numbers, status and settings, the
queue, withdrawals, alerts) therefore makes the next read compute afresh: a client that
wrote and then reads sees its write. `partner_update` (partners/services.py) and the alert
channel services (alerts/services/channels.py: the dashboard lists the partner's channels)
publish nothing and bump the version themselves. Writes that do neither (the Django admin)
are seen once the TTL runs out, so the TTL stays a few seconds.

The version is read before the database: a result computed from older rows can only be
stored under an older version, which no later read asks for. When Redis is away the reads
are computed every time (never an error because of the cache).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Outlives any cached read by far: a version that expired would only let reads start over
# at "0", whose entries are long gone by then.
VERSION_SECONDS = 24 * 3600


def _version_key(partner_id: int) -> str:
    return f"reads:version:{partner_id}"


def partner_changed(partner_id: int) -> None:
    """Give the partner a new read version: its cached reads are no longer served.

    Call after the change is committed (`publish_on_commit` does). A Redis failure is
    logged, not raised: the cached reads then run out within `READS_CACHE_SECONDS`.
    """
    try:
        cache.set(_version_key(partner_id), time.time_ns(), VERSION_SECONDS)
    except Exception:  # the change is committed whatever the cache does
        logger.warning("read cache: could not bump partner %s", partner_id, exc_info=True)


def partner_changed_on_commit(partner_id: int) -> None:
    """`partner_changed` once the current transaction commits (now, if none is open); one
    bump per partner and transaction however many events it publishes (one Redis write on
    the intake path, not three)."""
    if not connection.in_atomic_block:
        transaction.on_commit(lambda: partner_changed(partner_id))
        return
    # Django starts a new `run_on_commit` list for every transaction: holding the list we
    # saw (a strong reference, so its identity cannot be reused) tells the transactions apart.
    hooks: object = connection.run_on_commit
    pending: tuple[object, set[int]] | None = getattr(connection, "_reads_pending", None)
    if pending is None or pending[0] is not hooks:
        pending = (hooks, set())
        connection._reads_pending = pending  # type: ignore[attr-defined]
    seen = pending[1]
    if partner_id in seen:
        return
    seen.add(partner_id)
    transaction.on_commit(lambda: partner_changed(partner_id))


def cached_read(*, partner_id: int, name: str, compute: Callable[[], T]) -> T:
    """`compute()`, served from the cache while the partner's data has not changed.

    `name` must say everything else the result depends on (the endpoint and its validated
    parameters); the caller has already checked the partner may be read.
    """
    return _through_cache(
        lambda: f"reads:{partner_id}:{cache.get(_version_key(partner_id), 0)}:{name}", compute
    )


def cached_shared(*, name: str, compute: Callable[[], T]) -> T:
    """`compute()` for data that is the same for every partner (market prices), cached for
    `READS_CACHE_SECONDS` or until `shared_changed(name)`."""
    return _through_cache(lambda: f"reads:shared:{name}", compute)


def _through_cache(key_now: Callable[[], str], compute: Callable[[], T]) -> T:
    """The value under `key_now()` (the key is made first: a partner's version is read
    before the database), else `compute()` stored there for `READS_CACHE_SECONDS`. Off when
    the TTL is 0; a cache that fails is logged and the value computed."""
    ttl = settings.READS_CACHE_SECONDS
    if ttl <= 0:
        return compute()
    try:
        key = key_now()
        hit = cache.get(key)
    except Exception:
        logger.warning("read cache unavailable", exc_info=True)
        return compute()
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    value = compute()
    try:
        cache.set(key, value, ttl)
    except Exception:
        logger.warning("read cache: could not store %s", key, exc_info=True)
    return value


def shared_changed(name: str) -> None:
    """Drop the shared read `name` once the current transaction commits."""

    def drop() -> None:
        try:
            cache.delete(f"reads:shared:{name}")
        except Exception:
            logger.warning("read cache: could not drop %s", name, exc_info=True)

    transaction.on_commit(drop)
