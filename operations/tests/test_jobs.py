"""Job leases, job history and the periodic-task registry."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from operations.jobs import JOBS
from operations.models import JobLock, JobRun
from operations.services import (
    job_execute,
    lease_acquire,
    lease_force_release,
    lease_release,
)
from operations.tasks import cleanup
from operations.tests.factories import JobLockFactory, JobRunFactory

pytestmark = pytest.mark.django_db

TTL = timedelta(minutes=1)
ROOT = Path(__file__).resolve().parents[2]


def test_lease_is_exclusive_until_released():
    assert lease_acquire(job="sync", holder="a", ttl=TTL)
    assert not lease_acquire(job="sync", holder="b", ttl=TTL)
    assert lease_acquire(job="sync", holder="a", ttl=TTL)  # re-acquire extends
    assert not lease_release(job="sync", holder="b")
    assert lease_release(job="sync", holder="a")
    assert lease_acquire(job="sync", holder="b", ttl=TTL)


def test_expired_lease_is_taken_over():
    JobLockFactory(
        job="sync",
        holder="crashed",
        acquired_at=timezone.now() - timedelta(minutes=10),
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert lease_acquire(job="sync", holder="b", ttl=TTL)
    assert JobLock.objects.get(job="sync").holder == "b"


def test_force_release():
    lease_acquire(job="sync", holder="a", ttl=TTL)
    assert lease_force_release(job="sync")
    assert lease_acquire(job="sync", holder="b", ttl=TTL)


@pytest.mark.django_db(transaction=True)
def test_concurrent_acquirers_get_one_lease():
    winners = []
    barrier = threading.Barrier(8)

    def contend(name):
        try:
            barrier.wait()
            if lease_acquire(job="hot", holder=name, ttl=TTL):
                winners.append(name)
        finally:
            connection.close()

    threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert JobLock.objects.get(job="hot").holder == winners[0]


def test_job_execute_records_success_and_frees_lease():
    run = job_execute(job="demo", ttl=TTL, work=lambda: 7)
    run.refresh_from_db()
    assert (run.status, run.items) == (JobRun.Status.SUCCEEDED, 7)
    assert run.finished_at >= run.started_at
    assert not JobLock.objects.filter(job="demo").exists()


def test_job_execute_skips_when_lease_is_held():
    lease_acquire(job="demo", holder="elsewhere", ttl=TTL)
    called = []
    run = job_execute(job="demo", ttl=TTL, work=lambda: called.append(1) or 1)
    assert run.status == JobRun.Status.SKIPPED
    assert called == []


def test_job_execute_records_failure_and_reraises():
    def boom():
        raise RuntimeError("node down")

    with pytest.raises(RuntimeError):
        job_execute(job="demo", ttl=TTL, work=boom)
    run = JobRun.objects.get(job="demo")
    assert run.status == JobRun.Status.FAILED
    assert "node down" in run.error
    assert not JobLock.objects.filter(job="demo").exists()


def test_cleanup_removes_expired_leases_and_old_history():
    old = JobRunFactory(started_at=timezone.now() - timedelta(days=40))
    recent = JobRunFactory()
    JobLockFactory(
        job="stale",
        acquired_at=timezone.now() - timedelta(hours=2),
        expires_at=timezone.now() - timedelta(hours=1),
    )
    live = JobLockFactory(job="live")
    assert cleanup() == 2
    assert not JobRun.objects.filter(pk=old.pk).exists()
    assert JobRun.objects.filter(pk=recent.pk).exists()
    assert list(JobLock.objects.values_list("job", flat=True)) == [live.job]
    assert JobRun.objects.filter(job="cleanup", status="succeeded").count() == 1


def test_setup_periodic_tasks_upserts_by_name():
    every = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="retired",
        task="x.y",
        interval=every,
        description="old [managed by setup_periodic_tasks]",
    )
    PeriodicTask.objects.create(name="hand-made", task="x.z", interval=every)
    call_command("setup_periodic_tasks", stdout=StringIO())
    call_command("setup_periodic_tasks", stdout=StringIO())
    tasks = {t.name: t for t in PeriodicTask.objects.all()}
    assert set(tasks) == {job.name for job in JOBS} | {"hand-made"}
    for job in JOBS:
        task = tasks[job.name]
        assert task.task == job.task
        assert task.interval.every == job.every_seconds
        assert task.expire_seconds == int(job.expires_seconds)
        assert task.expire_seconds < job.every_seconds


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_of_one_job_never_overlap():
    inside: list[int] = []
    overlaps: list[int] = []
    barrier = threading.Barrier(4)
    runs: list[JobRun] = []

    def work() -> int:
        inside.append(1)
        if len(inside) > 1:
            overlaps.append(len(inside))
        time.sleep(0.3)
        inside.pop()
        return 1

    def run() -> None:
        try:
            barrier.wait()
            runs.append(job_execute(job="busy", ttl=TTL, work=work))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []
    statuses = sorted(r.status for r in runs)
    assert statuses.count(JobRun.Status.SUCCEEDED) >= 1
    assert statuses.count(JobRun.Status.SKIPPED) >= 1
    assert len(statuses) == 4


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_killed_holders_lease_expires_by_itself(settings):
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    script = (
        "import os, signal, django; from datetime import timedelta; django.setup();"
        "from operations.services import lease_acquire;"
        "assert lease_acquire(job='doomed', holder='victim', ttl=timedelta(seconds=2));"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "energy_platform.settings"}
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=False)
    assert result.returncode == -signal.SIGKILL  # killed while holding the lease
    assert JobLock.objects.get(job="doomed").holder == "victim"
    assert not lease_acquire(job="doomed", holder="next", ttl=TTL)
    time.sleep(2.2)
    assert lease_acquire(job="doomed", holder="next", ttl=TTL)


def test_every_lease_outlives_the_hard_time_limit_and_no_more():
    """A killed run blocks its job until its lease expires: minutes, even for the daily
    cleanup (whose lease was once two days)."""
    from django.conf import settings

    from operations.jobs import JOBS

    for spec in JOBS:
        assert settings.CELERY_TASK_TIME_LIMIT < spec.lease_seconds <= 600, spec.name


def test_runs_a_dead_process_left_running_are_closed_by_the_next_run():
    from django.utils import timezone

    dead = JobRun.objects.create(job="demo", started_at=timezone.now() - 2 * TTL, holder="gone")
    recent = JobRun.objects.create(job="demo", started_at=timezone.now(), holder="maybe alive")
    other = JobRun.objects.create(job="other", started_at=timezone.now() - 2 * TTL, holder="x")
    run = job_execute(job="demo", ttl=TTL, work=lambda: 1)
    assert run.status == JobRun.Status.SUCCEEDED
    dead.refresh_from_db()
    assert (dead.status, dead.error[:9]) == (JobRun.Status.FAILED, "abandoned")
    for untouched in (recent, other):  # younger than a lease, or another job's
        untouched.refresh_from_db()
        assert untouched.status == JobRun.Status.RUNNING
