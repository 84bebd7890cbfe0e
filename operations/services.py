"""Job leases and job history (docs/jobs.md).

A lease is a `JobLock` row: taken by insert, or by taking over an expired row with one
conditional UPDATE on database time, so two processes can never both hold it and a
crashed holder's lease frees itself when it expires.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.utils import timezone

from operations.models import JobLock, JobRun

logger = logging.getLogger(__name__)

JOB_RUN_RETENTION = timedelta(days=30)


def lease_holder_id() -> str:
    """Names this process and call: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_acquire(*, job: str, holder: str, ttl: timedelta) -> bool:
    """Take the lease on `job` for `ttl`. True if `holder` now holds it.

    Idempotent for the same holder (re-acquiring extends the lease).
    """
    renewed_at = Now()
    expires_at = Now() + ttl
    if JobLock.objects.filter(job=job, expires_at__lte=Now()).update(
        holder=holder, acquired_at=renewed_at, expires_at=expires_at
    ):
        return True
    if JobLock.objects.filter(job=job, holder=holder).update(expires_at=expires_at):
        return True
    try:
        with transaction.atomic():
            JobLock.objects.create(
                job=job,
                holder=holder,
                acquired_at=Now(),
                expires_at=Now() + ttl,
            )
    except IntegrityError:
        return False
    return True


def lease_release(*, job: str, holder: str) -> bool:
    """Give the lease back. Only its holder can; True if it was released."""
    deleted, _ = JobLock.objects.filter(job=job, holder=holder).delete()
    return deleted > 0


def lease_force_release(*, job: str) -> bool:
    """Operator's override: free the lease whoever holds it."""
    deleted, _ = JobLock.objects.filter(job=job).delete()
    return deleted > 0


def leases_expired_cleanup() -> int:
    deleted, _ = JobLock.objects.filter(expires_at__lte=Now()).delete()
    return deleted


def _abandoned_runs_close(*, job: str, older_than: timedelta) -> int:
    """Record as failed the runs of `job` still "running" after a whole lease: their
    process died (a lease outlasts Celery's hard time limit, so none of them is alive)."""
    count = JobRun.objects.filter(
        job=job,
        status=JobRun.Status.RUNNING,
        finished_at__isnull=True,
        started_at__lt=timezone.now() - older_than,
    ).update(
        status=JobRun.Status.FAILED,
        error="abandoned: its process died before it finished",
        finished_at=timezone.now(),
    )
    if count:
        logger.warning("job %s: %s run(s) abandoned by a dead process", job, count)
    return count


def job_execute(*, job: str, ttl: timedelta, work: Callable[[], int]) -> JobRun:
    """Run `work` under the job's lease and record the run.

    If another process holds the lease the run is recorded as skipped and `work` is not
    called. `work` returns how many items it handled. Exceptions are recorded and re-raised.
    """
    holder = lease_holder_id()
    run = JobRun.objects.create(job=job, started_at=timezone.now(), holder=holder)
    if not lease_acquire(job=job, holder=holder, ttl=ttl):
        run.status = JobRun.Status.SKIPPED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
        return run
    _abandoned_runs_close(job=job, older_than=ttl)
    try:
        items = work()
    except Exception as exc:
        run.status = JobRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise
    finally:
        lease_release(job=job, holder=holder)
    run.status = JobRun.Status.SUCCEEDED
    run.items = items
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "items", "finished_at"])
    return run


def cleanup_run() -> int:
    """The `cleanup` job: expired leases and job history past retention. Returns rows removed."""
    removed = leases_expired_cleanup()
    old, _ = JobRun.objects.filter(started_at__lt=timezone.now() - JOB_RUN_RETENTION).delete()
    return removed + old
