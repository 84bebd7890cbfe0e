"""aiohttp server: java-tron routes, the ``/devnet`` control API, block production, persistence."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from tron_devnet import addresses, api, market, usdt
from tron_devnet.chain import Chain
from tron_devnet.economics import TRX

log = logging.getLogger("tron_devnet")

REALTIME = "realtime"
MANUAL = "manual"


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=_dumps(obj), status=status, content_type="application/json")


class ControlError(Exception):
    """A bad ``/devnet`` request (HTTP 400 ``{"error": ...}``)."""


def whole_units(value: Any, what: str) -> int:
    """Whole TRX/USDT (number or decimal string) → smallest unit (6 decimals)."""
    try:
        amount = Decimal(str(value)) * TRX
    except (InvalidOperation, ValueError):
        raise ControlError(f"invalid {what} amount {value!r}") from None
    if amount != amount.to_integral_value() or amount < 0:
        raise ControlError(f"{what} amount {value!r} must be >= 0 with at most 6 decimals")
    return int(amount)


def _parse_address(value: Any) -> bytes:
    try:
        return addresses.parse(value)
    except addresses.AddressError as exc:
        raise ControlError(str(exc)) from None


class DevnetServer:
    """One devnet node: owns the :class:`Chain`, the aiohttp runner and background tasks."""

    def __init__(
        self,
        chain: Chain,
        *,
        host: str = "127.0.0.1",
        port: int = 8090,
        mode: str = REALTIME,
        state_file: str | None = None,
        save_interval: float = 1.0,
    ) -> None:
        if mode not in (REALTIME, MANUAL):
            raise ValueError(f"unknown block interval mode {mode!r}")
        self.chain = chain
        # The lag the node started with: `faults(solidity_lag=N)` changes it until cleared.
        self.initial_solidity_lag = chain.solidity_lag
        # java-tron calls served, by endpoint (``wallet/broadcasttransaction`` …), since the
        # last reset: lets tests count what the platform asks of a node provider.
        self.calls: Counter[str] = Counter()
        self.host = host
        self.port = port
        self.mode = mode
        self.state_file = state_file
        self.save_interval = save_interval
        self.app = self._make_app()
        self.runner: web.AppRunner | None = None
        self.site: web.TCPSite | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

    def _make_app(self) -> web.Application:
        # No middleware: faults are checked inline by each handler, which keeps the per-request
        # overhead close to a bare aiohttp handler (see bench/devnet.py).
        app = web.Application(client_max_size=4 * 1024**2)
        app.router.add_route("*", "/wallet/{name}", self._wallet)
        app.router.add_route("*", "/walletsolidity/{name}", self._wallet_solidity)
        app.router.add_post("/devnet/advance", self._advance)
        app.router.add_post("/devnet/mine", self._mine)
        app.router.add_post("/devnet/fund", self._fund)
        app.router.add_post("/devnet/usdt/mint", self._mint)
        app.router.add_post("/devnet/faults", self._faults)
        app.router.add_get("/devnet/state", self._state)
        app.router.add_post("/devnet/reset", self._reset)
        app.router.add_post("/devnet/params", self._params)
        app.router.add_post("/devnet/market", self._market_control)
        app.router.add_get("/market", self._market_info)
        app.router.add_post("/market/order", self._market_order)
        app.router.add_get("/market/order/{order_id}", self._market_order_get)
        return app

    async def start(self) -> int:
        """Start listening; returns the bound port (useful with port 0)."""
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        await self._listen()
        if self.mode == REALTIME:
            self._tasks.append(asyncio.create_task(self._produce_forever()))
        if self.state_file:
            self._tasks.append(asyncio.create_task(self._save_forever()))
        return self.port

    async def _listen(self) -> None:
        assert self.runner is not None
        self.site = web.TCPSite(self.runner, self.host, self.port, reuse_address=True)
        await self.site.start()
        server = self.site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self.save()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def save(self) -> None:
        if self.state_file:
            try:
                self.chain.save(self.state_file)
            except OSError:
                log.exception("could not save devnet state to %s", self.state_file)

    async def _produce_forever(self) -> None:
        """Realtime mode: a block at every 3-s slot boundary of devnet time."""
        while True:
            wait_ms = self.chain.head_ts + 3000 - self.chain.now_ms()
            await asyncio.sleep(min(max(wait_ms, 20), 1000) / 1000)
            self.chain.tick()

    async def _save_forever(self) -> None:
        while True:
            await asyncio.sleep(self.save_interval)
            if self.chain.dirty:
                self.save()

    async def _refuse(self, seconds: float) -> None:
        """Look dead: close the listening socket (connection refused) for ``seconds``."""
        await asyncio.sleep(0.05)  # let the /devnet/faults answer go out first
        if self.site is not None:
            await self.site.stop()
            self.site = None
        await asyncio.sleep(max(0.0, seconds - 0.05))
        for _ in range(50):
            try:
                await self._listen()
                return
            except OSError:
                await asyncio.sleep(0.1)
        log.error("could not re-open port %s after the refuse fault", self.port)

    # ------------------------------------------------------------------ faults

    async def _faulty(self, request: web.Request) -> None:
        """Apply request-level faults: dead node (abort the connection) or added latency."""
        faults = self.chain.faults
        if faults.refusing():
            # keep-alive connections opened before the fault: drop them without an answer
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)

    # ------------------------------------------------------------------ java-tron routes

    async def _body(self, request: web.Request) -> dict[str, Any] | None:
        if request.method == "GET":
            return dict(request.query)
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def _wallet(self, request: web.Request) -> web.Response:
        return await self._java_tron(request, solid=False)

    async def _wallet_solidity(self, request: web.Request) -> web.Response:
        return await self._java_tron(request, solid=True)

    async def _java_tron(self, request: web.Request, solid: bool) -> web.Response:
        faults = self.chain.faults
        if faults.latency_ms or faults.refuse_until:
            await self._faulty(request)
        self.calls[f"{'walletsolidity' if solid else 'wallet'}/{request.match_info['name']}"] += 1
        body = await self._body(request)
        if body is None:
            return json_response(api.error("org.tron.json.JSONException", "invalid JSON body"))
        try:
            result = api.dispatch(self.chain, request.match_info["name"], body, solid)
        except Exception as exc:  # java-tron answers 200 + {"Error": ...} for anything
            log.exception("endpoint %s failed", request.match_info["name"])
            result = api.error(f"java.lang.{type(exc).__name__}", str(exc))
        if result is None:
            raise web.HTTPNotFound()
        return json_response(result)

    # ------------------------------------------------------------------ control API

    async def _control_body(self, request: web.Request) -> dict[str, Any]:
        body = await self._body(request)
        if body is None:
            raise ControlError("body must be a JSON object")
        return body

    def state(self) -> dict[str, Any]:
        chain = self.chain
        return {
            "head_block": chain.head_number,
            "head_block_id": chain.block_id(chain.head_number).hex(),
            "head_block_timestamp": chain.head_ts,
            "solid_block": chain.solid_number,
            "devnet_time_ms": chain.now_ms(),
            "offset_ms": chain.offset_ms,
            "mode": self.mode,
            "solidity_lag": chain.solidity_lag,
            "accounts": len(chain.accounts),
            "pending_transactions": len(chain.pending),
            "transactions": len(chain.txs),
            "genesis_address": addresses.to_base58(chain.genesis_address),
            "usdt_contract": usdt.ADDRESS_B58,
            "faults": chain.faults.to_json(),
            "params": chain.params,
            "calls": dict(self.calls),
        }

    async def _control(self, request: web.Request, action: str) -> web.Response:
        await self._faulty(request)
        try:
            body = await self._control_body(request)
            result = self._apply_control(action, body)
        except (ControlError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            return json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)
        return json_response(result)

    def _apply_control(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        chain = self.chain
        if action == "advance":
            seconds = float(body.get("seconds", 0))
            if seconds < 0:
                raise ControlError("seconds must be >= 0")
            chain.advance(seconds)
            if self.mode == REALTIME:
                chain.tick()
            return self.state()
        if action == "mine":
            blocks = int(body.get("blocks", 1))
            if blocks < 0 or blocks > 10_000_000:
                raise ControlError("blocks must be between 0 and 10,000,000")
            chain.mine(blocks)
            return self.state()
        if action == "fund":
            sun = whole_units(body.get("trx", 0), "trx")
            targets = body.get("addresses") or [body.get("address")]
            funded = []
            for value in targets:
                acct = chain.fund(_parse_address(value), sun)
                funded.append(
                    {"address": addresses.to_base58(acct.address), "balance": acct.balance}
                )
            return funded[0] if "addresses" not in body else {"funded": len(funded)}
        if action == "mint":
            addr = _parse_address(body.get("address"))
            chain.usdt.mint(addr, whole_units(body.get("amount", 0), "usdt"))
            chain.dirty = True
            return {"address": addresses.to_base58(addr), "balance": chain.usdt.balance_of(addr)}
        if action == "faults":
            chain.faults.update(body)
            if body.get("clear"):
                chain.solidity_lag = self.initial_solidity_lag
            if "solidity_lag" in body:
                chain.solidity_lag = max(0, int(body["solidity_lag"]))
            seconds = float(body.get("refuse_seconds", 0) or 0)
            if seconds > 0:
                self._tasks.append(asyncio.ensure_future(self._refuse(seconds)))
            return chain.faults.to_json()
        if action == "reset":
            self.chain = Chain(
                genesis_private_key=chain.genesis_private_key,
                genesis_trx=chain.genesis_trx,
                solidity_lag=int(body.get("solidity_lag", self.initial_solidity_lag)),
            )
            self.calls.clear()
            return self.state()
        if action == "params":
            chain.set_params(body)
            return {"params": chain.params}
        raise ControlError(f"unknown action {action}")

    async def _advance(self, request: web.Request) -> web.Response:
        return await self._control(request, "advance")

    async def _mine(self, request: web.Request) -> web.Response:
        return await self._control(request, "mine")

    async def _fund(self, request: web.Request) -> web.Response:
        return await self._control(request, "fund")

    async def _mint(self, request: web.Request) -> web.Response:
        return await self._control(request, "mint")

    async def _faults(self, request: web.Request) -> web.Response:
        return await self._control(request, "faults")

    async def _reset(self, request: web.Request) -> web.Response:
        return await self._control(request, "reset")

    async def _params(self, request: web.Request) -> web.Response:
        return await self._control(request, "params")

    # ------------------------------------------------------------------ rental market

    async def _market(self, request: web.Request, call: Any) -> web.Response:
        """Run a market call: its (status, body), or ``{"error": ...}`` with the refusal's
        status."""
        await self._faulty(request)
        body = await self._body(request) if request.method == "POST" else {}
        if body is None:
            return json_response({"error": "body must be a JSON object"}, status=400)
        try:
            status, result = call(body)
        except market.MarketError as exc:
            return json_response({"error": exc.message}, status=exc.status)
        except (KeyError, TypeError, ValueError) as exc:
            return json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)
        return json_response(result, status=status)

    async def _market_info(self, request: web.Request) -> web.Response:
        return await self._market(request, lambda body: (200, self.chain.market.info()))

    async def _market_control(self, request: web.Request) -> web.Response:
        return await self._market(request, lambda body: (200, self.chain.market.control(body)))

    async def _market_order(self, request: web.Request) -> web.Response:
        return await self._market(request, self.chain.market.order)

    async def _market_order_get(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        return await self._market(request, lambda body: (200, self.chain.market.get(order_id)))

    async def _state(self, request: web.Request) -> web.Response:
        await self._faulty(request)
        return json_response(self.state())
