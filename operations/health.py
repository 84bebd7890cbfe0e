"""Health checks: each component's status and latency (docs/jobs.md, Health).

The checks themselves come from django-health-check; this module runs them concurrently and
reports them in the platform's shape:

    {"status": "ok" | "down", "checked_at": "...",
     "components": {"database": {"status": "ok", "latency_ms": 1.3}, ...}}
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Callable, Sequence
from typing import Literal, TypedDict

from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.contrib.celery import Ping
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from redis.asyncio import Redis as AsyncRedis

ComponentStatus = Literal["ok", "down"]


class ComponentReport(TypedDict, total=False):
    status: ComponentStatus
    latency_ms: float
    error: str
    details: dict[str, object]


@dataclasses.dataclass
class DetailedHealthCheck(HealthCheck):  # type: ignore[misc]  # django-health-check is untyped
    """A check that also reports what it saw (a block height, an age) in `details`."""

    details: dict[str, object] = dataclasses.field(default_factory=dict, repr=False)


class HealthReport(TypedDict):
    status: ComponentStatus
    checked_at: str
    components: dict[str, ComponentReport]


def _redis_client() -> AsyncRedis:
    return AsyncRedis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


@dataclasses.dataclass
class BeatFreshness(HealthCheck):  # type: ignore[misc]  # django-health-check is untyped
    """The scheduler is alive if no enabled interval job is overdue.

    A job is overdue when more than its interval plus `BEAT_STALE_AFTER` has passed since
    beat last dispatched it (or, never dispatched, since it was last changed). The jobs are
    read on the request's thread when the check is built, so `run` touches no database.
    """

    overdue: list[str]
    jobs: int

    @classmethod
    def build(cls) -> BeatFreshness:
        now = timezone.now()
        overdue = []
        tasks = PeriodicTask.objects.filter(enabled=True, interval__isnull=False).select_related(
            "interval"
        )
        jobs = 0
        for task in tasks:
            jobs += 1
            assert task.interval is not None
            every: datetime.timedelta = task.interval.schedule.run_every
            since = task.last_run_at or task.date_changed
            if now - since > every + settings.BEAT_STALE_AFTER:
                overdue.append(task.name)
        return cls(overdue=overdue, jobs=jobs)

    def run(self) -> None:
        if self.jobs == 0:
            raise ServiceUnavailable("no periodic jobs are scheduled")
        if self.overdue:
            raise ServiceUnavailable(f"overdue: {', '.join(sorted(self.overdue))}")


def _celery_ping() -> HealthCheck:
    # Ping's default app is the project's Celery app, made current when Django loads.
    return Ping(timeout=datetime.timedelta(seconds=1))


COMPONENTS: dict[str, Callable[[], HealthCheck]] = {
    "database": lambda: Database(),
    "redis": lambda: Redis(client_factory=_redis_client),
    "celery": _celery_ping,
    "beat": BeatFreshness.build,
}
READINESS = ("database", "redis")


async def _run(names: Sequence[str], checks: Sequence[HealthCheck]) -> dict[str, ComponentReport]:
    results = await asyncio.gather(*(check.get_result() for check in checks))
    reports: dict[str, ComponentReport] = {}
    for name, result in zip(names, results, strict=True):
        report: ComponentReport = {
            "status": "ok" if result.error is None else "down",
            "latency_ms": round(result.time_taken * 1000, 2),
        }
        if result.error is not None:
            report["error"] = str(result.error)
        if isinstance(result.check, DetailedHealthCheck) and result.check.details:
            report["details"] = result.check.details
        reports[name] = report
    return reports


def health_report(names: Sequence[str]) -> HealthReport:
    """Run the named checks concurrently. Status is "down" if any of them is."""
    checks = [COMPONENTS[name]() for name in names]  # built here: factories may use the ORM
    components = asyncio.run(_run(names, checks))
    status: ComponentStatus = (
        "ok" if all(c["status"] == "ok" for c in components.values()) else "down"
    )
    return {
        "status": status,
        "checked_at": timezone.now().isoformat(),
        "components": components,
    }


def health_register(name: str, factory: Callable[[], HealthCheck]) -> None:
    """Apps add their own components (the TRON node, for one) from `AppConfig.ready`."""
    COMPONENTS[name] = factory


SummaryProvider = Callable[[], dict[str, object]]
SUMMARIES: dict[str, SummaryProvider] = {}


def summary_register(name: str, provider: SummaryProvider) -> None:
    """Apps contribute a section to `/api/v1/status` from `AppConfig.ready`."""
    SUMMARIES[name] = provider


def status_summary() -> dict[str, object]:
    """The dashboard summary: health of the core services and each app's own figures."""
    report = health_report(READINESS)
    return {
        "status": report["status"],
        "checked_at": report["checked_at"],
        "components": report["components"],
        **{name: provider() for name, provider in sorted(SUMMARIES.items())},
    }
