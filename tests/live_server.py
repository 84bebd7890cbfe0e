"""daphne for browser tests: a real ASGI server (HTTP and WebSocket) in its own process, on
the test database and the test process's Redis key space (tests/live_settings.py).

A subprocess rather than a fork of the test worker: a forked child inherits the locks of
whatever threads the worker runs (the live-events publisher, an in-process devnet) and could
hang before it serves.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DAPHNE = [sys.executable, "-m", "daphne", "-b", "127.0.0.1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def daphne_server() -> Iterator[str]:
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.live_settings",
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "LIVE_SERVER_REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "TRON_NODE_URLS": ",".join(settings.TRON_NODE_URLS),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DEBUG": "1",  # daphne serves the static files (energy_platform/asgi.py)
        "DB_POOL_MAX_SIZE": "0",
    }
    log = tempfile.TemporaryFile()  # noqa: SIM115  # open for the server's whole life
    server = subprocess.Popen(
        [*DAPHNE, "-p", str(port), "energy_platform.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                error = log.read().decode(errors="replace")
                raise RuntimeError(f"daphne did not start: {error[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(10)
        log.close()
