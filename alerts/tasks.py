"""Thin Celery tasks: the `check_alerts` job, and one task per alert delivery."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from alerts.services.delivery import deliveries_enqueue, delivery_try
from alerts.services.rules import alerts_check
from operations.jobs import JOBS_BY_NAME
from operations.services import job_execute


@shared_task(name="alerts.tasks.check_alerts")
def check_alerts() -> int:
    spec = JOBS_BY_NAME["check_alerts"]
    run = job_execute(job=spec.name, ttl=timedelta(seconds=spec.lease_seconds), work=alerts_check)
    return run.items


@shared_task(name="alerts.tasks.deliver_alert")
def deliver_alert(delivery_id: int) -> str:
    """One try of one delivery; a failure to be retried is enqueued again after its backoff."""
    result = delivery_try(delivery_id=delivery_id)
    if result is None:
        return "skipped"
    if result.retry_in is not None:
        deliveries_enqueue([delivery_id], countdown=result.retry_in)
    return result.status
