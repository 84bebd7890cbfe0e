"""A Redis cache whose connection pool is shared by the whole process.

Django keeps one cache object per request context, and its Redis backend builds a new
client (so a new connection pool, so new TCP connections) for each of them. Under daphne
every request is a new context, so every request would connect to Redis again. This
backend hands all cache objects with the same configuration one client; redis-py's pools
are thread-safe and start over after a fork.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[str, RedisCacheClient] = {}
_clients_lock = threading.Lock()


class SharedRedisCache(RedisCache):
    """Django's Redis cache on one process-wide client, plus a rate-window counter."""

    # Set by RedisCache.__init__; not in django-stubs.
    _servers: list[str]
    _options: dict[str, Any]
    _class: type[RedisCacheClient]

    @cached_property
    def _cache(self) -> RedisCacheClient:
        key = repr((self._servers, sorted(self._options.items())))
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
            return client

    def window_hits(self, key: str, window: int, index: int) -> tuple[int, int]:
        """Count one hit in window `index` of `key`; returns (hits in it, hits in the one
        before). One round trip: INCR and EXPIRE on this window, GET on the previous."""
        current = self.make_and_validate_key(f"{key}:{index}")
        previous = self.make_and_validate_key(f"{key}:{index - 1}")
        client = self._cache.get_client(current, write=True)
        pipe = client.pipeline(transaction=False)
        pipe.incr(current)
        pipe.expire(current, 2 * window)
        pipe.get(previous)
        hits, _, before = pipe.execute()
        return int(hits), int(before or 0)
