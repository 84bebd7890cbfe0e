"""Thin Celery tasks for the operations jobs."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from operations.jobs import JOBS_BY_NAME
from operations.services import cleanup_run, job_execute


@shared_task(name="operations.tasks.cleanup")
def cleanup() -> int:
    spec = JOBS_BY_NAME["cleanup"]
    return job_execute(
        job=spec.name, ttl=timedelta(seconds=spec.lease_seconds), work=cleanup_run
    ).items
