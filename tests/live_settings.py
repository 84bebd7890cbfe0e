"""Settings of the daphne that browser tests start (tests/live_server.py): the project's test
settings, on the parent test process's Redis key space (which names the parent's pid)."""

import os

from energy_platform.settings import *  # noqa: F403
from energy_platform.settings import CACHES, CHANNEL_LAYERS

REDIS_KEY_PREFIX = os.environ["LIVE_SERVER_REDIS_KEY_PREFIX"]
CACHES["default"]["KEY_PREFIX"] = REDIS_KEY_PREFIX
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{REDIS_KEY_PREFIX}:asgi"
