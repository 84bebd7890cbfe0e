"""What every Celery task gets: metrics by name and outcome, and the request id of the HTTP
request that enqueued it (in the task's headers), bound while it runs."""

from __future__ import annotations

import contextvars
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from common.logs import _request_id, request_id_current
from common.metrics import task_timer_start, task_timer_stop

_bound: dict[str, contextvars.Token[str]] = {}


def _on_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    current = request_id_current()
    if headers is not None and current:
        headers.setdefault("request_id", current)


def _on_prerun(task_id: str = "", task: Any = None, **_: Any) -> None:
    task_timer_start(task_id)
    request_id = getattr(getattr(task, "request", None), "request_id", None)
    if isinstance(request_id, str) and request_id:
        _bound[task_id] = _request_id.set(request_id)


def _on_postrun(task_id: str = "", task: Any = None, state: str | None = None, **_: Any) -> None:
    task_timer_stop(task_id, getattr(task, "name", "unknown"), (state or "unknown").lower())
    token = _bound.pop(task_id, None)
    if token is not None:
        _request_id.reset(token)


def celery_hooks_connect() -> None:
    before_task_publish.connect(_on_publish, weak=False)
    task_prerun.connect(_on_prerun, weak=False)
    task_postrun.connect(_on_postrun, weak=False)
