"""Health and status endpoints. Public: they reveal component status, never data."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

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


class LiveApi(PublicView):
    """Liveness: the process answers. Touches no external service."""

    @extend_schema(responses=HEALTH_SCHEMA, operation_id="health_live")
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyApi(PublicView):
    """Readiness: 503 unless the database and Redis answer."""

    @extend_schema(responses=HEALTH_SCHEMA, operation_id="health_ready")
    def get(self, request: Request) -> Response:
        return _respond(health_report(READINESS))


class HealthApi(PublicView):
    """Basic health: the database and Redis."""

    @extend_schema(responses=HEALTH_SCHEMA, operation_id="health_basic")
    def get(self, request: Request) -> Response:
        return _respond(health_report(READINESS))


class HealthComprehensiveApi(PublicView):
    """Every component: database, Redis, Celery workers, beat, and what apps register."""

    @extend_schema(responses=HEALTH_SCHEMA, operation_id="health_comprehensive")
    def get(self, request: Request) -> Response:
        return _respond(health_report(tuple(COMPONENTS)))


class HealthComponentApi(PublicView):
    """One component."""

    component = ""

    @extend_schema(responses=HEALTH_SCHEMA)
    def get(self, request: Request) -> Response:
        return _respond(health_report((self.component,)))


class StatusApi(PublicView):
    """Dashboard summary: core health plus each app's headline figures."""

    @extend_schema(responses=HEALTH_SCHEMA, operation_id="status_summary")
    def get(self, request: Request) -> Response:
        return Response(status_summary())
