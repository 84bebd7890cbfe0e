"""Job leases and job history (docs/jobs.md).

A lease is a `JobLock` row: taken by insert, or by taking over an expired row with one
conditional UPDATE on database time, so two processes can never both hold it and a
crashed holder's lease frees itself when it expires.

Leases are short (`operations.jobs.LEASE_SECONDS`) and renewed by a heartbeat while the
work runs, so a run killed by SIGKILL or the OOM killer frees its job within seconds. A
run that cannot prove it still holds its lease stops before its next statement: every
statement the work sends on its connection first checks that the lease was renewed
within its lifetime (measured on this process's monotonic clock from before each renewal
was sent, so it never outlives the row's `expires_at`), and raises `LeaseLost` otherwise.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models.functions import Now
from django.utils import timezone

from operations.jobs import JOBS_BY_NAME
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


class LeaseLost(Exception):
    """The run no longer holds its job's lease: another run may be doing the same work."""


def lease_renew(*, job: str, holder: str, ttl: timedelta) -> bool:
    """Extend `holder`'s unexpired lease on `job` to `ttl` from now (database time).

    False if the lease expired or someone else holds it: then the caller must stop."""
    return bool(
        JobLock.objects.filter(job=job, holder=holder, expires_at__gt=Now()).update(
            expires_at=Now() + ttl
        )
    )


class _Heartbeat:
    """Renews a run's lease every `every` seconds from its own thread and connection.

    `deadline` (monotonic) is when the lease may have expired: the send time of the last
    successful renewal plus the lease's ttl. Renewal stops for good once it fails."""

    def __init__(self, *, job: str, holder: str, ttl: timedelta, every: float, since: float):
        self.job, self.holder, self.ttl, self.every = job, holder, ttl, every
        self.deadline = since + ttl.total_seconds()
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> None:
        if self.lost or time.monotonic() >= self.deadline:
            self.lost = True
            raise LeaseLost(f"job {self.job}: lease lost by {self.holder}")

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every) and not self.lost:
                sent = time.monotonic()
                try:
                    renewed = lease_renew(job=self.job, holder=self.holder, ttl=self.ttl)
                except DatabaseError:
                    logger.warning("job %s: lease renewal failed; retrying", self.job)
                    connection.close()
                    continue  # the deadline decides whether the run may go on
                if renewed:
                    self.deadline = sent + self.ttl.total_seconds()
                else:
                    self.lost = True
                    logger.error("job %s: lease lost by %s; the run stops", self.job, self.holder)
        finally:
            connection.close()


@contextmanager
def _lease_kept(
    *, job: str, holder: str, ttl: timedelta, every: float, since: float
) -> Iterator[None]:
    """Keep the lease alive while the body runs, and refuse the body's statements once it
    may have been lost. Inside a caller's transaction (a test's) the lease row is visible
    to nobody else, so there is nothing to renew or to lose."""
    if connection.in_atomic_block:
        yield
        return
    heartbeat = _Heartbeat(job=job, holder=holder, ttl=ttl, every=every, since=since)

    def guard(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        heartbeat.check()
        return execute(sql, params, many, context)

    heartbeat.start()
    try:
        with connection.execute_wrapper(guard):
            yield
    finally:
        heartbeat.stop()


def job_execute(
    *,
    job: str,
    ttl: timedelta,
    work: Callable[[], int],
    heartbeat_seconds: float | None = None,
) -> JobRun:
    """Run `work` under the job's lease and record the run.

    If another process holds the lease the run is recorded as skipped and `work` is not
    called. `work` returns how many items it handled. While it runs the lease is renewed
    every `heartbeat_seconds` (a third of `ttl` by default); if a renewal fails for longer
    than `ttl`, the work's next statement raises `LeaseLost` (recorded as a failure).
    Statements the work sends from other threads are not guarded. Exceptions are recorded
    and re-raised.
    """
    holder = lease_holder_id()
    run = JobRun.objects.create(job=job, started_at=timezone.now(), holder=holder)
    since = time.monotonic()
    if not lease_acquire(job=job, holder=holder, ttl=ttl):
        run.status = JobRun.Status.SKIPPED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
        return run
    _abandoned_runs_close(job=job, older_than=ttl)
    every = heartbeat_seconds if heartbeat_seconds is not None else ttl.total_seconds() / 3
    try:
        with _lease_kept(job=job, holder=holder, ttl=ttl, every=every, since=since):
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


def job_run(*, job: str, work: Callable[[], int]) -> JobRun:
    """Run the registered job `job` (`operations/jobs.py`) with its lease: what every
    periodic task does."""
    spec = JOBS_BY_NAME[job]
    return job_execute(job=spec.name, ttl=timedelta(seconds=spec.lease_seconds), work=work)


CleanupStep = Callable[[], int]
CLEANUP_STEPS: dict[str, CleanupStep] = {}


def cleanup_register(name: str, step: CleanupStep) -> None:
    """Apps add their own housekeeping to the daily `cleanup` job from `AppConfig.ready`
    (thinning old time series, for one). A step returns rows removed and is idempotent."""
    CLEANUP_STEPS[name] = step


def cleanup_run() -> int:
    """The `cleanup` job: expired leases, job history past retention, and every app's
    registered step. One step's failure is logged and does not stop the others (it fails
    the run afterwards). Returns rows removed."""
    removed = leases_expired_cleanup()
    old, _ = JobRun.objects.filter(started_at__lt=timezone.now() - JOB_RUN_RETENTION).delete()
    removed += old
    failed: list[str] = []
    for name, step in CLEANUP_STEPS.items():
        try:
            removed += step()
        except Exception:
            logger.exception("cleanup step %s failed", name)
            failed.append(name)
    if failed:
        raise RuntimeError(f"cleanup steps failed: {', '.join(failed)}")
    return removed
