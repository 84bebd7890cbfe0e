"""Thin Celery task for the predictions job."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from operations.jobs import JOBS_BY_NAME
from operations.services import job_execute
from predictions.services import predictions_refresh


def _refresh() -> int:
    return predictions_refresh().forecast


@shared_task(name="predictions.tasks.refresh_predictions")
def refresh_predictions() -> int:
    spec = JOBS_BY_NAME["refresh_predictions"]
    run = job_execute(job=spec.name, ttl=timedelta(seconds=spec.lease_seconds), work=_refresh)
    return run.items
