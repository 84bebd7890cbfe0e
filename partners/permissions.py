"""Permission classes: every partner API call needs a caller; writes need a write role."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from partners.models import APIKey, Role
from partners.selectors import Caller, caller_for_api_key, caller_for_user

CALLER_ATTR = "_partner_caller"


def caller_from_request(request: Request) -> Caller | None:
    """The caller behind `request`, computed once per request."""
    cached: Caller | None = getattr(request, CALLER_ATTR, None)
    if cached is not None:
        return cached
    if isinstance(request.auth, APIKey):
        caller = caller_for_api_key(api_key=request.auth)
    else:
        caller = caller_for_user(user=request.user)
    setattr(request, CALLER_ATTR, caller)
    return caller


class IsPartnerCaller(BasePermission):
    """A partner staff session or API key; unsafe methods need the view's `write_roles`."""

    message = "This needs a partner API key or a partner staff login."

    def has_permission(self, request: Request, view: Any) -> bool:
        caller = caller_from_request(request)
        if caller is None:
            return False
        if request.method in SAFE_METHODS:
            return True
        write_roles: frozenset[Role] = getattr(
            view, "write_roles", frozenset({Role.OWNER, Role.OPERATOR})
        )
        if caller.role not in write_roles:
            self.message = "Your role may not change this."
            return False
        return True
