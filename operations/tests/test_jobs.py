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
from django.db.models.functions import Now
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from operations.jobs import JOBS
from operations.models import JobLock, JobRun
from operations.services import (
    LeaseLost,
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


def test_leases_are_short_and_reservations_outlive_any_signing_stall(settings):
    """A killed run blocks its job for seconds (its lease is renewed only while it lives),
    and an unsigned reservation outlives the longest stall signing can suffer."""
    from pools.checks import longest_signing_stall_seconds, reservation_ttl_check

    for spec in JOBS:
        assert 5 <= spec.lease_seconds <= 60, spec.name
    assert longest_signing_stall_seconds() < settings.RESERVATION_TTL_SECONDS
    assert reservation_ttl_check() == []
    settings.RESERVATION_TTL_SECONDS = longest_signing_stall_seconds()
    assert [e.id for e in reservation_ttl_check()] == ["pools.E004"]


def _lease_expires_at(job: str):
    row = JobLock.objects.filter(job=job).values_list("expires_at", flat=True).first()
    return row


@pytest.mark.django_db(transaction=True)
def test_a_long_run_keeps_its_lease_by_heartbeat():
    """A run longer than its lease keeps the job: nobody else gets it meanwhile."""
    ttl = timedelta(seconds=1.5)
    stolen: list[bool] = []

    def work() -> int:
        for _ in range(8):  # 2.4 s: past the 1.5 s lease
            time.sleep(0.3)
            stolen.append(lease_acquire(job="long", holder="intruder", ttl=ttl))
            JobRun.objects.filter(job="long").count()  # the work's own statements go on
        return 8

    run = job_execute(job="long", ttl=ttl, work=work, heartbeat_seconds=0.3)
    assert run.status == JobRun.Status.SUCCEEDED
    assert stolen == [False] * 8
    assert not JobLock.objects.filter(job="long").exists()  # released at the end


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_lease_was_taken_stops_before_its_next_statement():
    ttl = timedelta(seconds=3)
    written_after_theft: list[int] = []
    theft_seen = threading.Event()

    def work() -> int:
        JobLock.objects.filter(job="victim").update(holder="thief")  # someone took it over
        theft_seen.set()
        for i in range(40):  # 4 s: the heartbeat (every 0.2 s) notices within one beat
            time.sleep(0.1)
            JobRun.objects.create(job="marker", started_at=timezone.now())
            written_after_theft.append(i)
        return 1

    with pytest.raises(LeaseLost):
        job_execute(job="victim", ttl=ttl, work=work, heartbeat_seconds=0.2)
    assert theft_seen.is_set()
    assert len(written_after_theft) <= 3  # within one heartbeat, then nothing
    run = JobRun.objects.get(job="victim")
    assert (run.status, run.error.split(":")[0]) == (JobRun.Status.FAILED, "LeaseLost")
    assert JobLock.objects.get(job="victim").holder == "thief"  # not released by the loser


@pytest.mark.django_db(transaction=True)
def test_a_run_that_cannot_renew_writes_nothing_past_its_lease():
    """A heartbeat that cannot renew in time (here: slower than the lease) must not let
    the run write after its lease may have expired and another run taken over."""
    ttl = timedelta(seconds=1)
    lease_ends = []
    started = time.monotonic()

    def work() -> int:
        lease_ends.append(_lease_expires_at("stalled"))
        while time.monotonic() - started < 3:
            JobRun.objects.create(job="marker", started_at=Now())  # stamped by the database
            time.sleep(0.05)
        return 1

    with pytest.raises(LeaseLost):
        job_execute(job="stalled", ttl=ttl, work=work, heartbeat_seconds=60)
    assert time.monotonic() - started < 2  # it stopped, it did not write on for 3 s
    stamps = list(JobRun.objects.filter(job="marker").values_list("started_at", flat=True))
    assert stamps
    assert max(stamps) < lease_ends[0]
    assert lease_acquire(job="stalled", holder="next", ttl=ttl)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_killed_runs_job_is_free_again_within_its_short_lease(settings):
    """SIGKILL a worker mid-run (as the OOM killer would): its heartbeat dies with it and
    the job is free again within one lease, not minutes."""
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    script = (
        "import time, django; from datetime import timedelta; django.setup();"
        "from operations.services import job_execute;"
        "job_execute(job='oom', ttl=timedelta(seconds=2), work=lambda: time.sleep(60) or 1,"
        " heartbeat_seconds=0.5)"
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "energy_platform.settings"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not JobLock.objects.filter(job="oom").exists():
            assert time.monotonic() < deadline, "the run never took its lease"
            time.sleep(0.1)
        first = _lease_expires_at("oom")
        while _lease_expires_at("oom") == first:  # renewed: the heartbeat runs
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.1)
        assert not lease_acquire(job="oom", holder="next", ttl=TTL)  # still alive: held
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = time.monotonic()
    while not lease_acquire(job="oom", holder="next", ttl=TTL):
        time.sleep(0.1)
    assert time.monotonic() - killed_at <= 2.5  # one lease (2 s) and a beat at most


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
