"""Permission classes that know no app."""

from __future__ import annotations

from typing import Any

from django_otp.middleware import is_verified
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsVerifiedStaff(BasePermission):
    """Operator admins: staff users who passed the second factor."""

    message = "This needs a staff login with a verified second factor."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user.is_authenticated and user.is_staff and user.is_active):
            return False
        # OTPMiddleware marked the session's user with the device that verified it.
        return bool(is_verified(user))
