"""Thin Celery task for the predictions job."""

from __future__ import annotations

from celery import shared_task

from operations.services import job_run
from predictions.services import predictions_refresh


def _refresh() -> int:
    return predictions_refresh().forecast


@shared_task(name="predictions.tasks.refresh_predictions")
def refresh_predictions() -> int:
    return job_run(job="refresh_predictions", work=_refresh).items
