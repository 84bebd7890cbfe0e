"""Throttles: a sliding-window counter in Redis, and failing open.

A sliding-window counter (the current window's hits plus the previous window's, weighted by
how much of it still overlaps the last `duration` seconds) is taken with one atomic round
trip (a Lua script: `common.cache.SharedRedisCache.window_take`), so a concurrent burst can
never pass the limit, and refused requests are not counted. DRF's own `SimpleRateThrottle`
reads and rewrites a pickled list of every request time, which a concurrent burst races.

When Redis does not answer, requests are let through (and logged): a limit protects the
platform from floods, and the API's own work does not need Redis, so a Redis outage must
not turn every call into an error. The per-caller limit (`partners/throttling.py`) and the
anonymous one here build on `SlidingWindowRateThrottle`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.cache import caches
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from common.cache import SharedRedisCache

logger = logging.getLogger(__name__)


class FailOpenMixin:
    """Let a request through when the throttle's store (Redis) is unavailable. Throttles
    override `take` (the check itself), not `allow_request`."""

    scope: str | None

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return self.take(request, view)
        except RedisError as exc:
            logger.warning("throttle %s: Redis unavailable, let through: %s", self.scope, exc)
            return True

    def take(self, request: Request, view: Any) -> bool:
        allowed: bool = super().allow_request(request, view)  # type: ignore[misc]
        return allowed


class SlidingWindowRateThrottle(FailOpenMixin, SimpleRateThrottle):
    """A rate limit per `get_cache_key`, counted in a sliding window in one atomic Redis
    round trip; `Retry-After` is when one more request fits."""

    num_requests: int  # set from the rate by SimpleRateThrottle.__init__
    duration: int
    window_elapsed: float = 0.0
    hits: int = 0
    previous_hits: int = 0

    def take(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        backend = caches["default"]
        if not isinstance(backend, SharedRedisCache):  # another cache configured: DRF's way
            return SimpleRateThrottle.allow_request(self, request, view)
        now = self.timer()
        window = self.duration
        self.window_elapsed = now % window
        allowed, self.hits, self.previous_hits = backend.window_take(
            key,
            window=window,
            index=int(now // window),
            overlap=1 - self.window_elapsed / window,
            limit=self.num_requests,
        )
        return allowed

    def wait(self) -> float | None:
        """Seconds until one more request fits (sent as Retry-After)."""
        if not isinstance(caches["default"], SharedRedisCache):
            waited: float | None = super().wait()
            return waited
        limit, window, elapsed = self.num_requests, self.duration, self.window_elapsed
        # Later in this window, as the previous window's hits slide out:
        # previous × (1 − (elapsed + wait) / window) + hits + 1 ≤ limit.
        spare = limit - self.hits - 1
        if spare >= 0 and self.previous_hits > 0:
            wait = window * (1 - spare / self.previous_hits) - elapsed
            if wait <= window - elapsed:
                return float(max(1, _ceil(wait)))
        # Else in the next window, where this window's hits become the ones sliding out.
        later = window * (1 - (limit - 1) / self.hits) if self.hits > limit - 1 else 0.0
        return float(_ceil(window - elapsed + later))


class ResilientAnonRateThrottle(SlidingWindowRateThrottle):
    """The per-address limit for anonymous callers (`anon` rate); authenticated callers
    are left to their own limit."""

    scope = "anon"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _ceil(seconds: float) -> int:
    """Whole seconds, not fooled by float noise (40.000000000000007 is 40)."""
    return math.ceil(round(seconds, 6))
