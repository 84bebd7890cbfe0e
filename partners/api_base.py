"""The base view for partner-scoped API operations."""

from __future__ import annotations

from rest_framework.exceptions import NotAuthenticated
from rest_framework.views import APIView

from partners.models import Role
from partners.permissions import IsPartnerCaller, caller_from_request
from partners.selectors import WRITE_ROLES, Caller


class PartnerAPIView(APIView):
    """One operation on the calling partner's data. `caller` is set once permission passed."""

    permission_classes = [IsPartnerCaller]
    # Roles allowed to use the unsafe methods of this view.
    write_roles: frozenset[Role] = WRITE_ROLES

    @property
    def caller(self) -> Caller:
        caller = caller_from_request(self.request)
        if caller is None:  # permission classes ran first; this is a programming error guard
            raise NotAuthenticated
        return caller
