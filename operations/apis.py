"""Health and status endpoints.

Probes (`/health/live`, `/health/ready`) and the basic `/api/v1/health` are public and reveal
only up or down. Everything more detailed (each component, the TRON node, the dashboard
summary) is for verified staff, or for monitoring that presents `X-Health-Token`.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.permissions import IsVerifiedStaff
from common.api.throttling import ResilientAnonRateThrottle
from operations.health import COMPONENTS, READINESS, HealthReport, health_report, status_summary

HEALTH_SCHEMA = inline_serializer(
    name="HealthReport",
    fields={
        "status": serializers.ChoiceField(choices=["ok", "down"]),
        "checked_at": serializers.DateTimeField(),
        "components": serializers.DictField(child=serializers.DictField()),
    },
)


def _respond(report: HealthReport) -> Response:
    code = status.HTTP_200_OK if report["status"] == "ok" else status.HTTP_503_SERVICE_UNAVAILABLE
    return Response(report, status=code)


class PublicView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []


class HasHealthToken(BasePermission):
    """Monitoring systems present `X-Health-Token: <HEALTH_TOKEN>` (when one is configured)."""

    def has_permission(self, request: Request, view: object) -> bool:
        expected: str = settings.HEALTH_TOKEN
        given = request.headers.get("X-Health-Token", "")
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


class ProtectedView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [HasHealthToken | IsVerifiedStaff]
    # Monitoring must work when Redis is down, which is when it matters most.
    throttle_classes: list[type] = []


class LiveApi(PublicView):
    """Liveness: the process answers. Touches no external service."""

    @extend_schema(
        responses=inline_serializer(
            name="Liveness", fields={"status": serializers.ChoiceField(choices=["ok"])}
        ),
        operation_id="health_live",
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyApi(PublicView):
    """Readiness: 503 unless the database and Redis answer."""

    @extend_schema(responses=HEALTH_SCHEMA, operation_id="health_ready")
    def get(self, request: Request) -> Response:
        return _respond(health_report(READINESS))


class HealthApi(PublicView):
    """Basic health: the database and Redis. Throttled per client address."""

    throttle_classes = [ResilientAnonRateThrottle]

    @extend_schema(responses=HEALTH_SCHEMA, operation_id="health_basic")
    def get(self, request: Request) -> Response:
        return _respond(health_report(READINESS))


class HealthComprehensiveApi(ProtectedView):
    """Every component: database, Redis, Celery workers, beat, and what apps register."""

    @extend_schema(responses=HEALTH_SCHEMA, operation_id="health_comprehensive")
    def get(self, request: Request) -> Response:
        return _respond(health_report(tuple(COMPONENTS)))


class HealthComponentApi(ProtectedView):
    """One component."""

    component = ""

    @extend_schema(responses=HEALTH_SCHEMA)
    def get(self, request: Request) -> Response:
        return _respond(health_report((self.component,)))


class StatusApi(ProtectedView):
    """Dashboard summary: core health plus each app's headline figures."""

    @extend_schema(responses=HEALTH_SCHEMA, operation_id="status_summary")
    def get(self, request: Request) -> Response:
        return Response(status_summary())
