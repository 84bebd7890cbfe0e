"""Throttles that fail open.

When Redis does not answer, requests are let through (and logged): a limit protects the
platform from floods, and the API's own work does not need Redis, so a Redis outage must
not turn every call into an error. The per-caller limit (`partners/throttling.py`) builds
on the mixin.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle

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


class ResilientAnonRateThrottle(FailOpenMixin, AnonRateThrottle):
    """DRF's per-address limit for anonymous callers, letting requests through when Redis
    is unavailable."""
