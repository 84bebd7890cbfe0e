"""Health of the TRON node: reachable, how old its head block is, how fast it answers."""

from __future__ import annotations

import dataclasses
import datetime
import time

from django.conf import settings
from health_check.exceptions import ServiceUnavailable

from operations.health import DetailedHealthCheck
from pools.chain.client import ChainClient
from pools.chain.errors import ChainError


@dataclasses.dataclass
class TronNodeCheck(DetailedHealthCheck):
    timeout = datetime.timedelta(seconds=5)

    def run(self) -> None:
        # One quick try per node: a probe must not wait out the platform's retries.
        client = ChainClient(settings.TRON_NODE_URLS, timeout=2.0, attempts_per_node=1)
        try:
            head = client.head_block()
        except ChainError as exc:
            raise ServiceUnavailable(f"unreachable: {exc}") from None
        age = max(0.0, time.time() - head.timestamp_ms / 1000)
        self.details = {"head_block": head.number, "head_block_age_seconds": round(age, 1)}
        if age > settings.TRON_HEAD_STALE_SECONDS:
            raise ServiceUnavailable(f"head block {head.number} is {age:.0f} s old")
