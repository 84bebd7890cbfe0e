"""Permission classes that know no app."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsVerifiedStaff(BasePermission):
    """Operator admins: staff users who passed the second factor."""

    message = "This needs a staff login with a verified second factor."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        # OTPMiddleware attaches `otp_device` to the user object at run time; it is the
        # device that verified this session, or None.
        otp_device = getattr(user, "otp_device", None)
        return bool(user.is_authenticated and user.is_staff and otp_device is not None)
