"""API base views that know no app (the partner-scoped one is `partners/api_base.py`)."""

from __future__ import annotations

from rest_framework.views import APIView

from common.api.permissions import IsVerifiedStaff


class StaffAPIView(APIView):
    """Operators' endpoints: a staff session verified by the second factor."""

    permission_classes = [IsVerifiedStaff]
