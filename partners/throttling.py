"""Per-caller rate limit: per API key, per logged-in user, else per client address.

A sliding-window counter (the current window's hits plus the previous window's, weighted
by how much of it still overlaps the last `duration` seconds), kept in Redis with one round
trip per request; refused requests are not counted, as in DRF. DRF's own
`SimpleRateThrottle` keeps every request time of the window in one pickled list, read and
rewritten on every request: at 1,200 a minute that list is 1,200 floats on the intake path.

When Redis does not answer, requests are let through (and logged; `common/api/throttling.py`).
"""

from __future__ import annotations

import math
from typing import Any

from django.core.cache import caches
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from common.api.throttling import FailOpenMixin
from common.cache import SharedRedisCache
from partners.models import APIKey


class CallerRateThrottle(FailOpenMixin, SimpleRateThrottle):
    scope = "caller"
    num_requests: int  # set from the rate by SimpleRateThrottle.__init__
    duration: int
    window_elapsed: float = 0.0
    hits: int = 0
    previous_hits: int = 0

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, APIKey):
            ident = f"key:{request.auth.pk}"
        elif request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

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


def _ceil(seconds: float) -> int:
    """Whole seconds, not fooled by float noise (40.000000000000007 is 40)."""
    return math.ceil(round(seconds, 6))
