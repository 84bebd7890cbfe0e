"""API key authentication: `Authorization: Api-Key ep_<prefix>_<secret>`.

Guessing keys is not free: the client addresses whose invalid keys pass `API_KEY_FAILURE_LIMIT`
(20 a minute) are refused with 429 for the rest of the window, a correct key included, so a
guess that would have hit is refused too. Counted in Redis; when Redis does not answer,
nothing is refused (common/api/throttling.py fails open the same way).
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from common.api.throttling import SlidingWindowRateThrottle
from partners.models import APIKey
from partners.selectors import api_key_get_active
from partners.services import api_key_touch

KEYWORD = b"api-key"


class KeyGuessThrottle(SlidingWindowRateThrottle):
    """Invalid API keys per client address (`api_key_failures` rate)."""

    scope = "api_key_failures"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def _block_key(self, request: Request) -> str:
        return f"{self.get_cache_key(request, None)}:blocked"

    def refuse_if_blocked(self, request: Request) -> None:
        try:
            until = cache.get(self._block_key(request))
        except RedisError:
            return
        if until is not None:
            raise exceptions.Throttled(wait=max(1.0, float(until) - time.time()))

    def count_failure(self, request: Request) -> None:
        """Count an invalid key; past the limit, block the address until one more fits."""
        if self.allow_request(request, None):
            return
        wait = self.wait() or float(self.duration)
        try:
            cache.set(self._block_key(request), time.time() + wait, timeout=math.ceil(wait))
        except RedisError:
            return
        raise exceptions.Throttled(wait=wait)


class APIKeyAuthentication(BaseAuthentication):
    """Authenticates a partner's key; `request.auth` is the `APIKey`, the user is anonymous."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, APIKey] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid API key header.")
        try:
            raw_key = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        guard = KeyGuessThrottle()
        guard.refuse_if_blocked(request)
        api_key = api_key_get_active(raw_key=raw_key)
        if api_key is None:
            guard.count_failure(request)
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        api_key_touch(api_key=api_key)
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        return "Api-Key"
