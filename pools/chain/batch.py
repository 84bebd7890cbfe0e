"""Concurrent account reads for chain sync (docs/jobs.md, sync_pools), through tronpy's
async provider.

One call reads many accounts with bounded concurrency. Each address fails over between
node URLs on its own, and a failure is returned for that address instead of failing the
batch, so one bad read never holds back the rest.

tronpy's `AsyncHTTPProvider` composes the requests; the HTTP itself goes through aiohttp
(`_AiohttpClient`), because httpx's own connection pool is an order of magnitude slower
here under 64 concurrent requests (measured: bench/sync.py, and see the issue notes).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from typing import Any

import aiohttp
from tronpy.providers.async_http import AsyncHTTPProvider

from pools.chain.errors import (
    ChainError,
    ChainRejected,
    ChainUnavailable,
    NodeFault,
    checked_payload,
    http_status_error,
    node_label,
)
from pools.chain.types import AccountState, BlockRef


class _NodeHTTPError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _Response:
    """The slice of httpx.Response that tronpy's provider reads."""

    __slots__ = ("_body", "content", "status_code")

    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self.content = body
        self._body = body

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise _NodeHTTPError(self.status_code)

    def json(self) -> Any:
        return json.loads(self._body)


class _AiohttpClient:
    """What tronpy's AsyncHTTPProvider calls (`post(headers=, url=, json=)`), over aiohttp."""

    def __init__(self, *, concurrency: int, timeout: float, headers: dict[str, str]) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers=headers,
        )

    async def post(self, *, headers: dict[str, str], url: str, json: Any) -> _Response:
        async with self._session.post(url, headers=headers, json=json) as response:
            return _Response(response.status, await response.read())

    async def aclose(self) -> None:
        await self._session.close()


class BatchReader:
    """Reads accounts from a list of nodes with failover; use as an async context manager."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        concurrency: int = 64,
        timeout: float = 10.0,
        api_key: str = "",
        attempts_per_node: int = 2,
        backoff_seconds: float = 0.2,
    ) -> None:
        self._attempts = attempts_per_node
        self._backoff = backoff_seconds
        headers = {"TRON-PRO-API-KEY": api_key} if api_key else {}
        self._http = _AiohttpClient(concurrency=concurrency, timeout=timeout, headers=headers)
        self._providers = [
            AsyncHTTPProvider(
                url.rstrip("/") + "/",
                timeout=timeout,
                client=self._http,  # duck-typed: tronpy only calls post()
            )
            for url in urls
        ]
        self._urls = list(urls)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._preferred = 0

    async def __aenter__(self) -> BatchReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def _request(self, provider: AsyncHTTPProvider, path: str, body: dict[str, Any]) -> Any:
        try:
            payload = await provider.make_request(path, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NodeFault(type(exc).__name__) from exc
        except _NodeHTTPError as exc:
            raise http_status_error(exc.status) from exc
        except ValueError as exc:
            raise NodeFault("malformed response") from exc
        payload = checked_payload(payload)
        if "Error" in payload:
            raise ChainRejected(str(payload["Error"]), code="ERROR")
        return payload

    async def _with_failover(self, path_bodies: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Make the requests on one node: retried with backoff on a transient error, then
        failed over to the next node."""
        failures = []
        count = len(self._providers)
        start = self._preferred
        for offset in range(count):
            index = (start + offset) % count
            provider = self._providers[index]
            for attempt in range(self._attempts):
                try:
                    results = [await self._request(provider, p, b) for p, b in path_bodies]
                except NodeFault as exc:
                    failures.append(f"{node_label(self._urls[index])}: {exc}")
                    if attempt + 1 < self._attempts:
                        await asyncio.sleep(self._backoff * (2**attempt) * (1 + random.random()))
                    continue
                self._preferred = index
                return results
        raise ChainUnavailable("; ".join(failures[-4:]))

    async def head_block(self) -> BlockRef:
        (block,) = await self._with_failover([("wallet/getnowblock", {"visible": True})])
        raw = block.get("block_header", {}).get("raw_data", {})
        return BlockRef(
            number=int(raw.get("number", 0)),
            block_id=str(block.get("blockID", "")),
            timestamp_ms=int(raw.get("timestamp", 0)),
        )

    async def account(self, address: str) -> AccountState | ChainError:
        body = {"address": address, "visible": True}
        async with self._semaphore:
            try:
                account, resource = await self._with_failover(
                    [("wallet/getaccount", body), ("wallet/getaccountresource", body)]
                )
            except ChainError as exc:
                return exc
        return AccountState.parse(address, account, resource)

    async def accounts(self, addresses: Sequence[str]) -> dict[str, AccountState | ChainError]:
        results = await asyncio.gather(*(self.account(address) for address in addresses))
        return dict(zip(addresses, results, strict=True))
