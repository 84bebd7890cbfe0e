"""Thin Celery tasks: the `check_alerts` job, and one task per alert delivery."""

from __future__ import annotations

from celery import shared_task

from alerts.services.delivery import deliveries_enqueue, delivery_try
from alerts.services.rules import alerts_check
from operations.services import job_run


@shared_task(name="alerts.tasks.check_alerts")
def check_alerts() -> int:
    return job_run(job="check_alerts", work=alerts_check).items


@shared_task(name="alerts.tasks.deliver_alert")
def deliver_alert(delivery_id: int) -> str:
    """One try of one delivery; a failure to be retried is enqueued again after its backoff."""
    result = delivery_try(delivery_id=delivery_id)
    if result is None:
        return "skipped"
    if result.retry_in is not None:
        deliveries_enqueue([delivery_id], countdown=result.retry_in)
    return result.status
