"""Job history and leases for operators (seed 004's batch endpoints). Verified staff only."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.pagination import paginated_response
from common.api.views import StaffAPIView
from operations.models import JobLock, JobRun
from operations.selectors import job_runs_recent, job_stats, lease_get, leases_expired
from operations.services import lease_force_release, leases_expired_cleanup


class JobRunSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = JobRun
        fields = [
            "id",
            "job",
            "started_at",
            "finished_at",
            "duration_seconds",
            "status",
            "items",
            "error",
            "holder",
        ]


class JobStatsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    job = serializers.CharField()
    runs = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    running = serializers.IntegerField()
    average_seconds = serializers.FloatField(allow_null=True)
    last_started_at = serializers.DateTimeField(allow_null=True)


class LeaseSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    expired = serializers.SerializerMethodField()

    class Meta:
        model = JobLock
        fields = ["job", "holder", "acquired_at", "expires_at", "expired"]

    def get_expired(self, lease: JobLock) -> bool:
        return lease.expires_at <= timezone.now()


class LeaseStatusSerializer(serializers.Serializer):  # type: ignore[type-arg]
    job = serializers.CharField()
    locked = serializers.BooleanField()
    lease = LeaseSerializer(allow_null=True)


class CountSerializer(serializers.Serializer):  # type: ignore[type-arg]
    released = serializers.IntegerField()


class RecentRunsApi(StaffAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("job", str, required=False)],
        responses=JobRunSerializer(many=True),
        operation_id="batch_executions_recent",
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            self, job_runs_recent(job=request.query_params.get("job") or None), JobRunSerializer
        )


class RunStatsApi(StaffAPIView):
    @extend_schema(responses=JobStatsSerializer(many=True), operation_id="batch_executions_stats")
    def get(self, request: Request) -> Response:
        return Response(JobStatsSerializer(job_stats(), many=True).data)


class LeaseStatusApi(StaffAPIView):
    @extend_schema(responses=LeaseStatusSerializer, operation_id="batch_job_lock_status")
    def get(self, request: Request, job: str) -> Response:
        lease = lease_get(job=job)
        data = {
            "job": job,
            "locked": lease is not None and lease.expires_at > timezone.now(),
            "lease": lease,
        }
        return Response(LeaseStatusSerializer(data).data)


class LeaseReleaseApi(StaffAPIView):
    """Force-release a job's lease: for a holder known to be dead. Idempotent."""

    @extend_schema(request=None, responses=CountSerializer, operation_id="batch_job_lock_release")
    def post(self, request: Request, job: str) -> Response:
        return Response({"released": int(lease_force_release(job=job))})


class ExpiredLeasesApi(StaffAPIView):
    @extend_schema(responses=LeaseSerializer(many=True), operation_id="batch_locks_expired")
    def get(self, request: Request) -> Response:
        return Response(LeaseSerializer(leases_expired(), many=True).data)


class LeaseCleanupApi(StaffAPIView):
    @extend_schema(request=None, responses=CountSerializer, operation_id="batch_locks_cleanup")
    def post(self, request: Request) -> Response:
        return Response({"released": leases_expired_cleanup()})
