"""A Redis cache whose connection pool is shared by the whole process.

Django keeps one cache object per request context, and its Redis backend builds a new
client (so a new connection pool, so new TCP connections) for each of them. Under daphne
every request is a new context, so every request would connect to Redis again. This
backend hands all cache objects with the same configuration one client; redis-py's pools
are thread-safe and start over after a fork.
"""

from __future__ import annotations

import threading
from typing import Any, cast

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

    # Counts the request only if it fits: hits in the current window, plus the previous
    # window's weighted by how much of it still overlaps the last `window` seconds.
    _WINDOW_SCRIPT = """
    local current = tonumber(redis.call('GET', KEYS[1]) or '0')
    local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
    if previous * tonumber(ARGV[1]) + current + 1 > tonumber(ARGV[2]) then
        return {0, current, previous}
    end
    redis.call('INCR', KEYS[1])
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    return {1, current + 1, previous}
    """

    def window_take(
        self, key: str, *, window: int, index: int, overlap: float, limit: int
    ) -> tuple[bool, int, int]:
        """Take one request from the sliding window of `key` if it fits under `limit`.

        Returns (allowed, hits in window `index`, hits in the window before). One round
        trip (a Lua script, atomic in Redis); refused requests are not counted.
        """
        current = self.make_and_validate_key(f"{key}:{index}")
        previous = self.make_and_validate_key(f"{key}:{index - 1}")
        client = self._cache.get_client(current, write=True)
        allowed, hits, before = cast(
            list[int],
            client.eval(
                self._WINDOW_SCRIPT, 2, current, previous, repr(overlap), limit, 2 * window
            ),
        )
        return bool(allowed), int(hits), int(before)
