"""Job leases and job history (SPEC §6.7).

A lease is a `JobLock` row: taken by insert, or by taking over an expired row with one
conditional UPDATE on database time, so two processes can never both hold it and a
crashed holder's lease frees itself when it expires.

On PostgreSQL a run also holds a session advisory lock on a connection of its own for as
long as it runs. PostgreSQL frees it the moment the holder's process dies, so a run killed
mid-way (SIGKILL, out of memory) does not block its job until the row's lease expires: the
next run gets the advisory lock, takes the row over, and marks the dead run abandoned.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg
from django.db import IntegrityError, connection, transaction
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


@contextmanager
def _process_lock(job: str) -> Iterator[bool | None]:
    """A session advisory lock on `job`, on a connection of its own, held until the block
    ends or the process dies. Yields True (held), False (another live run holds it), or
    None where there is no such lock (SQLite): the row lease alone decides then."""
    if connection.vendor != "postgresql":
        yield None
        return
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as own:
        key = zlib.crc32(f"job:{job}".encode()) - 2**31
        row = own.execute("SELECT pg_try_advisory_lock(%s, %s)", (0x6A6F62, key)).fetchone()
        yield bool(row and row[0])
        # Closing the connection frees the lock.


def _take_over(*, job: str, holder: str, ttl: timedelta, run: JobRun) -> bool:
    """With the advisory lock held no other run of `job` is alive: take its row whoever
    holds it, and mark runs left unfinished by a dead process as abandoned."""
    if not JobLock.objects.filter(job=job).update(
        holder=holder, acquired_at=Now(), expires_at=Now() + ttl
    ) and not lease_acquire(job=job, holder=holder, ttl=ttl):
        return False
    abandoned = JobRun.objects.filter(
        job=job, status=JobRun.Status.RUNNING, finished_at__isnull=True
    ).exclude(pk=run.pk)
    if count := abandoned.update(
        status=JobRun.Status.FAILED,
        error="abandoned: its process died before it finished",
        finished_at=timezone.now(),
    ):
        logger.warning("job %s: %s run(s) abandoned by a dead process", job, count)
    return True


def job_execute(*, job: str, ttl: timedelta, work: Callable[[], int]) -> JobRun:
    """Run `work` under the job's lease and record the run.

    If another live process holds the lease the run is recorded as skipped and `work` is
    not called. `work` returns how many items it handled. Exceptions are recorded and
    re-raised.
    """
    holder = lease_holder_id()
    run = JobRun.objects.create(job=job, started_at=timezone.now(), holder=holder)
    with _process_lock(job) as alone:
        if alone is None:
            leased = lease_acquire(job=job, holder=holder, ttl=ttl)
        else:
            leased = alone and _take_over(job=job, holder=holder, ttl=ttl, run=run)
        if not leased:
            run.status = JobRun.Status.SKIPPED
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "finished_at"])
            return run
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
