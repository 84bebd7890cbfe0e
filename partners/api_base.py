"""The base view for partner-scoped API operations."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotAuthenticated
from rest_framework.serializers import Serializer
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

    def validated(self, serializer_class: type[Serializer[Any]]) -> dict[str, Any]:
        """The request body validated by `serializer_class` (a 400 with field errors if not)."""
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)
