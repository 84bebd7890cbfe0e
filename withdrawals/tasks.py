"""Thin Celery tasks for the jobs that move signed transactions to a final state."""

from __future__ import annotations

from celery import shared_task

from operations.services import job_run
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
    return job_run(job="broadcast_and_confirm", work=_drive_all).items


@shared_task(name="withdrawals.tasks.expire_and_audit")
def expire_and_audit() -> int:
    """Expire unsigned reservations; audit the ledger and alert on any breach."""
    return job_run(job="expire_and_audit", work=expire_and_audit_run).items


@shared_task(name="withdrawals.tasks.allocate_queue")
def allocate_queue() -> int:
    """Reserve energy for queued withdrawals, oldest first per partner over all its pools."""
    return job_run(job="allocate_queue", work=queue_allocate).items
