"""Reads about jobs: recent runs, per-job statistics, leases."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from common.metrics import GaugeSample
from operations.jobs import JOBS
from operations.models import JobLock, JobRun


def job_summary() -> dict[str, object]:
    """Per job: runs, failures, last start (the status endpoint's section)."""
    summary: dict[str, object] = {}
    for row in job_stats():
        last = row["last_started_at"]
        summary[str(row["job"])] = {
            "runs": row["runs"],
            "failed": row["failed"],
            "last_started_at": last.isoformat() if isinstance(last, datetime) else None,
        }
    return summary


def job_stats() -> list[dict[str, object]]:
    """One row per job: run counts by outcome, average duration, last start (one query)."""
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    rows = (
        JobRun.objects.values("job")
        .annotate(
            runs=Count("id"),
            succeeded=Count("id", filter=Q(status=JobRun.Status.SUCCEEDED)),
            failed=Count("id", filter=Q(status=JobRun.Status.FAILED)),
            skipped=Count("id", filter=Q(status=JobRun.Status.SKIPPED)),
            running=Count("id", filter=Q(status=JobRun.Status.RUNNING)),
            average_duration=Avg(duration, filter=Q(finished_at__isnull=False)),
            last_started_at=Max("started_at"),
        )
        .order_by("job")
    )
    result: list[dict[str, object]] = []
    for row in rows:
        stats: dict[str, object] = dict(row)
        average = stats.pop("average_duration")
        stats["average_seconds"] = (
            average.total_seconds() if isinstance(average, timedelta) else None
        )
        result.append(stats)
    return result


def job_runs_recent(*, job: str | None = None) -> QuerySet[JobRun]:
    runs = JobRun.objects.order_by("-started_at", "-id")
    return runs.filter(job=job) if job else runs


def lease_get(*, job: str) -> JobLock | None:
    return JobLock.objects.filter(job=job).first()


def leases_expired() -> QuerySet[JobLock]:
    return JobLock.objects.filter(expires_at__lte=Now()).order_by("expires_at")


def job_gauges() -> list[GaugeSample]:
    """Per registered job: seconds since its last successful run ended (its lag)."""
    last = dict(
        JobRun.objects.filter(status=JobRun.Status.SUCCEEDED)
        .values_list("job")
        .annotate(at=Max("finished_at"))
        .order_by("job")
    )
    now = timezone.now()
    return [
        GaugeSample(
            "job_seconds_since_success",
            "Seconds since the job last succeeded (-1: never)",
            (now - last[job.name]).total_seconds() if last.get(job.name) else -1.0,
            {"job": job.name},
        )
        for job in JOBS
    ]
