"""Live hints leave from a background thread: in order, after commit, never blocking."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from common import events
from common.events import flush_live_events, publish_on_commit

pytestmark = pytest.mark.django_db


def test_hints_arrive_in_order_after_commit(django_capture_on_commit_callbacks):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("order-test", channel)
    for n in range(20):
        with django_capture_on_commit_callbacks(execute=True):
            publish_on_commit(event=f"e{n}", groups=["order-test"], payload={"n": n})
    assert flush_live_events(timeout=10)

    async def receive_all() -> list[int]:
        return [(await layer.receive(channel))["payload"]["n"] for _ in range(20)]

    assert async_to_sync(receive_all)() == list(range(20))


def test_nothing_leaves_before_commit(django_capture_on_commit_callbacks):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("rollback-test", channel)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish_on_commit(event="never", groups=["rollback-test"], payload={})
    assert len(callbacks) == 1  # queued for the commit that a rollback never brings
    assert flush_live_events(timeout=5)

    async def nothing() -> bool:
        try:
            await asyncio.wait_for(layer.receive(channel), 0.3)
        except TimeoutError:
            return True
        return False

    assert async_to_sync(nothing)()


def test_a_dead_redis_never_holds_up_the_publisher(
    settings, django_capture_on_commit_callbacks, caplog
):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:9/0"]},  # discard port: nothing listens
        }
    }
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(5):
            publish_on_commit(event="lost", groups=["g"], payload={"n": n})
    assert time.monotonic() - started < 0.5  # the caller only queued them
    assert flush_live_events(timeout=30)  # each delivery failed, was logged, and dropped
    lost = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(lost) == 5


def test_a_hanging_redis_costs_each_hint_its_deadline_only(
    settings, django_capture_on_commit_callbacks, caplog
):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    host, port = silent.getsockname()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://{host}:{port}/0"]},
        }
    }
    try:
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            publish_on_commit(event="stuck", groups=["g"], payload={})
        assert flush_live_events(timeout=20)
        assert 1.5 < time.monotonic() - started < 15
        assert any("not delivered" in r.getMessage() for r in caplog.records)
    finally:
        silent.close()


def test_a_dead_publisher_thread_is_replaced(django_capture_on_commit_callbacks, monkeypatch):
    # A publisher of the test's own: faking the process's publisher's thread dead would leave
    # its live thread consuming the same queue beside the replacement, and two consumers
    # deliver out of order (it made a later ordering test in this worker flaky).
    monkeypatch.setattr(events, "_publisher", events._Publisher())
    gone = threading.Thread(target=lambda: None)
    gone.start()
    gone.join()
    events._publisher._thread = gone
    with django_capture_on_commit_callbacks(execute=True):
        publish_on_commit(event="after", groups=["g"], payload={})
    assert flush_live_events(timeout=10)
    assert events._publisher._thread is not gone


def test_a_forked_child_starts_with_nothing_pending():
    """Celery's prefork: the parent's queue, count and thread stay with the parent."""
    publisher = events._publisher
    with publisher._idle:
        publisher._unsent += 3  # as if three hints were still on their way here
    try:
        pid = os.fork()
        if pid == 0:  # the child: fresh state, and flush does not wait for the parent's
            fresh = publisher._unsent == 0 and publisher._thread is None
            os._exit(0 if fresh and publisher.flush(timeout=1) else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        with publisher._idle:
            publisher._unsent -= 3
            publisher._idle.notify_all()
