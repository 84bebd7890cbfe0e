"""Per-caller rate limit: per API key, per logged-in user, else per client address, in the
sliding window of `common/api/throttling.py` (one atomic Redis round trip; fails open)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from common.api.throttling import SlidingWindowRateThrottle
from partners.models import APIKey


class CallerRateThrottle(SlidingWindowRateThrottle):
    scope = "caller"

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, APIKey):
            ident = f"key:{request.auth.pk}"
        elif request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
