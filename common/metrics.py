"""Prometheus metrics, exposed at `/metrics` behind `METRICS_TOKEN`.

Counters and histograms are recorded where things happen (HTTP requests in
`MetricsMiddleware`, Celery tasks through Celery's signals, chain calls in
`pools.chain.client`). They are multiprocess-safe: with `PROMETHEUS_MULTIPROC_DIR` set
(the Procfile sets it), every process writes its values to files there and a scrape adds
them up, so N web processes and N workers report as one. Numbers that are state rather
than events (queue length, pools by state, open alerts, job lag) are read from the
database when scraped, by sources the apps register (`gauge_source_register`), so they
are right whichever process answers and this module imports no app.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "ep_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "ep_http_request_duration_seconds", "HTTP request latency", ["route", "method"]
)
TASKS = Counter("ep_celery_tasks_total", "Celery tasks finished", ["task", "outcome"])
TASK_DURATION = Histogram("ep_celery_task_duration_seconds", "Celery task duration", ["task"])
CHAIN_CALLS = Histogram(
    "ep_chain_call_duration_seconds",
    "TRON node calls (with failover and retries) by operation and outcome",
    ["what", "outcome"],
)


@dataclass(frozen=True)
class GaugeSample:
    """One value of a state gauge: `ep_<name>{labels} value`."""

    name: str
    help: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


GaugeSource = Callable[[], Iterable[GaugeSample]]
_gauge_sources: dict[str, GaugeSource] = {}


def gauge_source_register(name: str, source: GaugeSource) -> None:
    """Add a source of state gauges (a selector), read from the database at each scrape."""
    _gauge_sources[name] = source


class _StateCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        for source_name, source in list(_gauge_sources.items()):
            try:
                samples = list(source())
            except Exception:  # one broken source must not hide the others
                logger.exception("metrics source %s failed", source_name)
                continue
            for sample in samples:
                family = families.get(sample.name)
                if family is None:
                    family = families[sample.name] = GaugeMetricFamily(
                        f"ep_{sample.name}", sample.help, labels=sorted(sample.labels)
                    )
                family.add_metric([sample.labels[k] for k in sorted(sample.labels)], sample.value)
        yield from families.values()

    def describe(self) -> Iterable[Metric]:
        return []  # collected only when scraped: never at registration


def metrics_render() -> tuple[bytes, str]:
    """The exposition text of every process's metrics plus the state gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        output = generate_latest(registry)
    else:
        output = generate_latest(REGISTRY)
    state = CollectorRegistry()
    state.register(_StateCollector())
    return output + generate_latest(state), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every request by its URL pattern (never the raw path: ids would make
    a series per object)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = f"/{match.route}" if match is not None and match.route else "<unmatched>"
        HTTP_LATENCY.labels(route, request.method).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        return response


def task_timer_start(task_id: str) -> None:
    _task_started[task_id] = time.perf_counter()


def task_timer_stop(task_id: str, task_name: str, outcome: str) -> None:
    started = _task_started.pop(task_id, None)
    if started is not None:
        TASK_DURATION.labels(task_name).observe(time.perf_counter() - started)
    TASKS.labels(task_name, outcome).inc()


_task_started: dict[str, float] = {}
