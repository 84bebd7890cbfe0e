"""Thin Celery tasks for the pools jobs."""

from __future__ import annotations

from celery import shared_task

from operations.services import job_run
from pools.services.prices import prices_monitor
from pools.services.sync import pools_sync


def _sync_all() -> int:
    return pools_sync().synced


@shared_task(name="pools.tasks.sync_pools")
def sync_pools() -> int:
    return job_run(job="sync_pools", work=_sync_all).items


@shared_task(name="pools.tasks.monitor_prices")
def monitor_prices() -> int:
    return job_run(job="monitor_prices", work=prices_monitor).items
