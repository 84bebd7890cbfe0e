"""Thin Celery tasks for the pools jobs."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from operations.jobs import JOBS_BY_NAME
from operations.services import job_execute
from pools.services.prices import prices_monitor
from pools.services.sync import pools_sync


def _sync_all() -> int:
    return pools_sync().synced


@shared_task(name="pools.tasks.sync_pools")
def sync_pools() -> int:
    spec = JOBS_BY_NAME["sync_pools"]
    run = job_execute(job=spec.name, ttl=timedelta(seconds=spec.lease_seconds), work=_sync_all)
    return run.items


@shared_task(name="pools.tasks.monitor_prices")
def monitor_prices() -> int:
    spec = JOBS_BY_NAME["monitor_prices"]
    run = job_execute(job=spec.name, ttl=timedelta(seconds=spec.lease_seconds), work=prices_monitor)
    return run.items
