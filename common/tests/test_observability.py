"""Metrics at /metrics (token, routes, state gauges, several processes) and request ids."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils import timezone

from common import celery_hooks
from common.logs import JsonFormatter, RequestIdFilter, request_id_bound, request_id_current
from pools.models import EnergyPool
from pools.tests.factories import EnergyPoolFactory
from withdrawals.tests.factories import QueueEntryFactory

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scrape-token-0123456789"


def scrape(client: Client, token: str = TOKEN) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def value(text: str, series: str) -> float:
    """The value of one exposition line `series value`."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert match, f"{series} not in metrics"
    return float(match.group(1))


@pytest.mark.django_db
def test_metrics_need_the_token_and_do_not_exist_without_one(settings):
    client = Client()
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer x").status_code == 404
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


@pytest.mark.django_db
def test_requests_are_counted_by_route_pattern_and_state_is_read_at_scrape(settings, key_client):
    settings.METRICS_TOKEN = TOKEN
    client = Client()
    series = 'ep_http_requests_total{method="GET",route="/api/v1/partners/me/",status="200"}'
    before = scrape(client)
    before_count = value(before, series) if series in before else 0.0
    for _ in range(3):
        assert key_client.get("/api/v1/partners/me/").status_code == 200
    key_client.get("/api/v1/withdrawals/987654/")  # a 404: by pattern, not by id
    text = scrape(client)
    assert value(text, series) == before_count + 3
    assert "987654" not in text
    EnergyPoolFactory(status=EnergyPool.Status.ACTIVE, energy_limit=1000, energy_used=100)
    EnergyPoolFactory(status=EnergyPool.Status.PAUSED)
    entry = QueueEntryFactory()
    type(entry).objects.filter(pk=entry.pk).update(
        enqueued_at=timezone.now() - timedelta(seconds=90)
    )
    text = scrape(client)
    assert value(text, 'ep_pools{status="paused"}') >= 1
    assert value(text, "ep_queue_length") == 1
    assert 89 <= value(text, "ep_queue_oldest_wait_seconds") < 200
    assert value(text, 'ep_job_seconds_since_success{job="sync_pools"}') == -1
    assert "ep_chain_call_duration_seconds" in text


def test_metrics_of_several_processes_add_up(tmp_path):
    """Each web process and worker writes its own file; a scrape from any one adds them up."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    bump = (
        "from common.metrics import TASKS, HTTP_REQUESTS;"
        "TASKS.labels('demo.task', 'success').inc(2);"
        "HTTP_REQUESTS.labels('/x/', 'GET', '200').inc()"
    )
    for _ in range(3):
        subprocess.run([sys.executable, "-c", bump], env=env, cwd=ROOT, check=True)
    render = (
        "import sys; from common.metrics import metrics_render;"
        "sys.stdout.write(metrics_render()[0].decode())"
    )
    out = subprocess.run(
        [sys.executable, "-c", render], env=env, cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    assert value(out, 'ep_celery_tasks_total{outcome="success",task="demo.task"}') == 6
    assert value(out, 'ep_http_requests_total{method="GET",route="/x/",status="200"}') == 3


@pytest.mark.django_db
def test_every_response_carries_a_request_id(client):
    response = client.get("/health/live")
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    echoed = client.get("/health/live", HTTP_X_REQUEST_ID="edge-proxy-1234")
    assert echoed["X-Request-ID"] == "edge-proxy-1234"
    refused = client.get("/health/live", HTTP_X_REQUEST_ID="bad id\n<script>")
    assert re.fullmatch(r"[0-9a-f]{32}", refused["X-Request-ID"])


def test_json_logs_carry_the_request_id():
    record = logging.LogRecord("withdrawals", logging.INFO, __file__, 1, "sent %s", ("tx",), None)
    with request_id_bound("req-0123456789"):
        RequestIdFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] == "req-0123456789"
    assert (entry["level"], entry["logger"], entry["message"]) == ("INFO", "withdrawals", "sent tx")


def test_a_task_runs_under_the_request_id_that_enqueued_it_and_is_counted():
    """The publish hook puts the id in the task's headers; the worker's prerun hook binds
    it from the task's request while the task runs, and the postrun hook counts it."""
    from common.metrics import TASKS

    headers: dict[str, str] = {}
    with request_id_bound("req-abcdef0123"):
        celery_hooks._on_publish(headers=headers)
    assert headers == {"request_id": "req-abcdef0123"}
    task = SimpleNamespace(name="demo.hooked", request=SimpleNamespace(request_id="req-abcdef0123"))
    before = TASKS.labels("demo.hooked", "success")._value.get()
    celery_hooks._on_prerun(task_id="t-1", task=task)
    assert request_id_current() == "req-abcdef0123"
    celery_hooks._on_postrun(task_id="t-1", task=task, state="SUCCESS")
    assert request_id_current() == ""
    assert TASKS.labels("demo.hooked", "success")._value.get() == before + 1
