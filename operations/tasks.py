"""Thin Celery tasks for the operations jobs."""

from __future__ import annotations

from celery import shared_task

from operations.services import cleanup_run, job_run


@shared_task(name="operations.tasks.cleanup")
def cleanup() -> int:
    return job_run(job="cleanup", work=cleanup_run).items
