"""Reads about jobs: recent runs and per-job statistics."""

from __future__ import annotations

from django.db.models import Count, Max, Q

from operations.models import JobRun


def job_summary() -> dict[str, object]:
    """Per declared job: last run status and time, failures among recent runs."""
    rows = (
        JobRun.objects.values("job")
        .annotate(
            runs=Count("id"),
            failed=Count("id", filter=Q(status=JobRun.Status.FAILED)),
            last_started_at=Max("started_at"),
        )
        .order_by("job")
    )
    return {
        row["job"]: {
            "runs": row["runs"],
            "failed": row["failed"],
            "last_started_at": row["last_started_at"].isoformat()
            if row["last_started_at"]
            else None,
        }
        for row in rows
    }
