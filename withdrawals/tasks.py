"""Thin Celery tasks for the jobs that move signed transactions to a final state."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from operations.jobs import JOBS_BY_NAME
from operations.services import job_execute
from pools.services.staking import staking_operations_drive
from withdrawals.services.audit import expire_and_audit as expire_and_audit_run
from withdrawals.services.requests import queue_allocate
from withdrawals.services.sending import withdrawals_drive


def _drive_all() -> int:
    return withdrawals_drive() + staking_operations_drive()


@shared_task(name="withdrawals.tasks.broadcast_and_confirm")
def broadcast_and_confirm() -> int:
    """Sign reserved withdrawals; drive every signed transaction (withdrawals and staking
    operations) one step toward a final state."""
    spec = JOBS_BY_NAME["broadcast_and_confirm"]
    run = job_execute(job=spec.name, ttl=timedelta(seconds=spec.lease_seconds), work=_drive_all)
    return run.items


@shared_task(name="withdrawals.tasks.expire_and_audit")
def expire_and_audit() -> int:
    """Expire unsigned reservations; audit the ledger and alert on any breach."""
    spec = JOBS_BY_NAME["expire_and_audit"]
    run = job_execute(
        job=spec.name, ttl=timedelta(seconds=spec.lease_seconds), work=expire_and_audit_run
    )
    return run.items


@shared_task(name="withdrawals.tasks.allocate_queue")
def allocate_queue() -> int:
    """Reserve energy for queued withdrawals, oldest first per partner over all its pools."""
    spec = JOBS_BY_NAME["allocate_queue"]
    run = job_execute(job=spec.name, ttl=timedelta(seconds=spec.lease_seconds), work=queue_allocate)
    return run.items
