"""In-process devnet for tests: ``with devnet_server() as devnet: ...``.

The server runs in a background thread with its own event loop on a free port; the yielded
:class:`RunningDevnet` has ``url``, ``genesis_address``, ``genesis_private_key`` and a small
synchronous control client (httpx) for the ``/devnet`` API. Manual block mode is the default so
tests are deterministic: broadcasts stay pending until ``devnet.mine()``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx

from tron_devnet import addresses
from tron_devnet.chain import DETERMINISTIC_GENESIS_KEY, Chain
from tron_devnet.server import MANUAL, DevnetServer


class DevnetControl:
    """Synchronous client of the ``/devnet`` control API."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=timeout)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        resp = self._http.post(path, json=body)
        resp.raise_for_status()
        return resp.json()

    def state(self) -> dict[str, Any]:
        resp = self._http.get("/devnet/state")
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move devnet time forward, producing seconds/3 blocks."""
        result: dict[str, Any] = self._post("/devnet/advance", {"seconds": seconds})
        return result

    def mine(self, blocks: int = 1) -> dict[str, Any]:
        result: dict[str, Any] = self._post("/devnet/mine", {"blocks": blocks})
        return result

    def fund(self, address: str, trx: int | str | Decimal) -> dict[str, Any]:
        """Credit ``trx`` whole TRX (creates the account if needed), no transaction involved."""
        result: dict[str, Any] = self._post("/devnet/fund", {"address": address, "trx": str(trx)})
        return result

    def fund_many(self, addresses_: list[str], trx: int | str | Decimal) -> dict[str, Any]:
        result: dict[str, Any] = self._post(
            "/devnet/fund", {"addresses": addresses_, "trx": str(trx)}
        )
        return result

    def mint(self, address: str, amount: int | str | Decimal) -> dict[str, Any]:
        """Mint ``amount`` whole USDT to ``address``."""
        result: dict[str, Any] = self._post(
            "/devnet/usdt/mint", {"address": address, "amount": str(amount)}
        )
        return result

    def faults(self, **faults: Any) -> dict[str, Any]:
        """Set faults, e.g. ``faults(drop_broadcasts=1)``, ``faults(server_busy=True)``,
        ``faults(latency_ms=200)``, ``faults(refuse_seconds=2)``, ``faults(drop_txids=[...])``,
        ``faults(solidity_lag=20)`` (blocks solidify that far behind the head),
        ``faults(clear=True)`` (also restores the starting solidity lag)."""
        result: dict[str, Any] = self._post("/devnet/faults", faults)
        return result

    def clear_faults(self) -> dict[str, Any]:
        return self.faults(clear=True)

    def reset(self) -> dict[str, Any]:
        result: dict[str, Any] = self._post("/devnet/reset", {})
        return result

    def params(self, **params: int) -> dict[str, Any]:
        result: dict[str, Any] = self._post("/devnet/params", params)
        return result

    def market(self, **control: Any) -> dict[str, Any]:
        """The rental market (tron_devnet/market.py): ``market()`` reads it;
        ``market(stake_trx=0)``, ``market(fail_orders=1)``, ``market(unavailable=True)``,
        ``market(clear=True)`` control it."""
        if not control:
            resp = self._http.get("/market")
            resp.raise_for_status()
            info: dict[str, Any] = resp.json()
            return info
        result: dict[str, Any] = self._post("/devnet/market", control)
        return result

    def calls(self) -> dict[str, int]:
        """java-tron endpoints served since the last reset, with how often each was called."""
        return dict(self.state()["calls"])

    def head_timestamp(self) -> int:
        return int(self.state()["head_block_timestamp"])

    def close(self) -> None:
        self._http.close()


class RunningDevnet(DevnetControl):
    """A devnet started by :func:`devnet_server`; control methods are inherited."""

    def __init__(self, url: str, genesis_address: str, genesis_private_key: str) -> None:
        super().__init__(url)
        self.genesis_address = genesis_address
        self.genesis_private_key = genesis_private_key

    @property
    def control(self) -> DevnetControl:
        return self


@contextmanager
def devnet_server(
    *,
    mode: str = MANUAL,
    solidity_lag: int = 0,
    genesis_trx: int = 1_000_000_000,
    genesis_private_key: str | None = None,
    deterministic: bool = False,
    state_file: str | None = None,
    params: dict[str, int] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[RunningDevnet]:
    """Start a devnet in a background thread; yields a :class:`RunningDevnet`, stops on exit."""
    key = genesis_private_key or (DETERMINISTIC_GENESIS_KEY if deterministic else None)
    if state_file is not None and __import__("os").path.exists(state_file):
        chain = Chain.load(state_file, solidity_lag=solidity_lag)
    else:
        chain = Chain(
            genesis_private_key=key,
            genesis_trx=genesis_trx,
            solidity_lag=solidity_lag,
            params=params,
        )
    server = DevnetServer(chain, host=host, port=port, mode=mode, state_file=state_file)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        loop.close()

    thread = threading.Thread(target=run, name=f"tron-devnet-{port}", daemon=True)
    thread.start()
    ready.wait(30)
    if failure:
        raise RuntimeError("devnet failed to start") from failure[0]
    devnet = RunningDevnet(
        f"http://{host}:{server.port}",
        addresses.to_base58(chain.genesis_address),
        chain.genesis_private_key,
    )
    try:
        yield devnet
    finally:
        devnet.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
