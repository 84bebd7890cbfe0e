"""The chain client: every TRON call of the platform goes through here.

Nodes are tried in order (starting from the last one that answered); transient failures
(connection errors, timeouts, HTTP 5xx/429, SERVER_BUSY) are retried with backoff and then
failed over to the next URL; a node's refusal of the request itself is raised at once as
`ChainRejected`. Transactions expire relative to the node's head block time, never the
local clock, and `fee_limit` is always computed from an energy estimate.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

import requests
from django.conf import settings
from tronpy import Tron
from tronpy import exceptions as tronpy_errors
from tronpy.contract import keccak256
from tronpy.providers import HTTPProvider
from tronpy.tron import Transaction, TransactionBuilder, current_timestamp

from common.db import release_pooled_connection
from common.metrics import CHAIN_CALLS
from common.tron import tron_address_to_hex
from pools.chain.errors import (
    TRANSIENT_CODES,
    ChainRejected,
    ChainUnavailable,
    NodeFault,
    checked_payload,
    http_status_error,
    node_label,
)
from pools.chain.signers import Signer
from pools.chain.types import (
    AccountState,
    BlockRef,
    BroadcastResult,
    ChainParameters,
    TrxPayment,
    TxReceipt,
    TxVerdict,
    UnsignedTransaction,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

USDT_CONTRACT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_TRANSFER_SELECTOR = "transfer(address,uint256)"
USDT_TRANSFER_METHOD_ID = keccak256(USDT_TRANSFER_SELECTOR.encode())[:4].hex()
USDT_BALANCE_SELECTOR = "balanceOf(address)"
# Energy a USDT transfer costs to a holder / a new holder (docs/tron.md, A USDT transfer).
USDT_TRANSFER_ENERGY_WARM = 64_285
USDT_TRANSFER_ENERGY_COLD = 130_285
FEE_LIMIT_HEADROOM = Decimal("1.2")
# Idle sets of node sessions a client keeps for reuse; more concurrent callers than this
# still get one each, and theirs are closed when given back.
MAX_IDLE_NODE_SETS = 32
ALREADY_KNOWN_CODES = frozenset({"DUP_TRANSACTION_ERROR"})


def _status_of(exc: requests.HTTPError) -> int:
    return exc.response.status_code if exc.response is not None else 0


def _decode_message(message: object) -> str:
    text = str(message or "")
    try:
        return bytes.fromhex(text).decode()
    except ValueError:
        return text


def _validate(*addresses: str) -> None:
    """Raise Django's ValidationError for anything that is not a base58 TRON address."""
    for address in addresses:
        tron_address_to_hex(address)


def abi_address(address: str) -> str:
    """An address as a 32-byte ABI word (hex): the 20-byte account id, left-padded."""
    return tron_address_to_hex(address)[2:].rjust(64, "0")


def abi_uint(value: int) -> str:
    if value < 0:
        raise ValueError("ABI uint cannot be negative")
    return f"{value:064x}"


def fee_limit_for(*, energy: int, energy_fee: int, max_fee_limit: int = 0) -> int:
    """`fee_limit` in sun for a call needing `energy`: energy × price × 1.2, rounded up.

    fee_limit caps the whole energy budget of a call, even energy paid from stake
    (docs/tron.md, fee_limit), so it is set from the estimate, never tronpy's 10 TRX.
    """
    if energy <= 0 or energy_fee <= 0:
        raise ValueError("fee_limit needs a positive energy estimate and energy price")
    limit = math.ceil(Decimal(energy) * energy_fee * FEE_LIMIT_HEADROOM)
    if max_fee_limit:
        limit = min(limit, max_fee_limit)
    return max(limit, 1)


class ChainClient:
    """A typed facade over tronpy with failover. Thread-safe; one per process is enough."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float = 10.0,
        api_key: str = "",
        attempts_per_node: int = 2,
        backoff_seconds: float = 0.2,
        expiration_seconds: int = 60,
    ) -> None:
        if not urls:
            raise ValueError("at least one TRON node URL is required")
        self.urls = [url.rstrip("/") + "/" for url in urls]
        self.timeout = timeout
        self.attempts_per_node = attempts_per_node
        self.backoff_seconds = backoff_seconds
        self.expiration_ms = expiration_seconds * 1000
        self._api_key = api_key
        # Sessions (and their keep-alive connections) are shared by every thread of the
        # process, one caller at a time: Django under ASGI runs each request on a thread
        # of its own, so per-thread sessions meant a new session and TCP connection per
        # request. Last in, first out, so the warmest connections are used.
        self._idle: deque[list[Tron]] = deque()
        self._idle_pid = os.getpid()
        self._preferred = 0

    def __repr__(self) -> str:
        return f"ChainClient(urls={self.urls!r})"

    # --- transport --------------------------------------------------------------------

    def _new_nodes(self) -> list[Tron]:
        nodes = []
        for url in self.urls:
            provider = HTTPProvider(url, timeout=self.timeout, api_key=self._api_key or None)
            session = provider.sess
            if self._api_key:
                # tronpy only sends the key to trongrid hosts; a real node behind another
                # name gets it too.
                session.headers["TRON-PRO-API-KEY"] = self._api_key
            # The environment's proxy and CA settings, read once here rather than on every
            # call (requests re-reads the whole environment per request otherwise).
            session.proxies.update(requests.utils.get_environ_proxies(url))
            session.verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
            session.trust_env = False
            nodes.append(Tron(provider))
        return nodes

    @contextmanager
    def _borrow_nodes(self) -> Iterator[list[Tron]]:
        """tronpy clients, one per URL, for this caller alone until it gives them back
        (requests sessions are not thread-safe)."""
        if self._idle_pid != os.getpid():
            # A forked child must not share its parent's sockets.
            self._idle = deque()
            self._idle_pid = os.getpid()
        try:
            nodes = self._idle.pop()
        except IndexError:
            nodes = self._new_nodes()
        try:
            yield nodes
        finally:
            if len(self._idle) < MAX_IDLE_NODE_SETS:
                self._idle.append(nodes)
            else:
                for node in nodes:
                    node.provider.sess.close()

    def _call(self, operation: Callable[[Tron], T], *, what: str) -> T:
        # A web request waiting on a node must not sit on a pooled database connection.
        release_pooled_connection()
        started, outcome = time.perf_counter(), "error"
        try:
            with self._borrow_nodes() as nodes:
                result = self._call_nodes(nodes, operation, what=what)
            outcome = "ok"
            return result
        except ChainRejected:
            outcome = "rejected"
            raise
        finally:
            CHAIN_CALLS.labels(what, outcome).observe(time.perf_counter() - started)

    def _call_nodes(self, nodes: list[Tron], operation: Callable[[Tron], T], *, what: str) -> T:
        start = self._preferred  # read once: another thread may move it meanwhile
        order = [(start + offset) % len(nodes) for offset in range(len(nodes))]
        failures: list[str] = []
        for index in order:
            node = nodes[index]
            for attempt in range(self.attempts_per_node):
                try:
                    result = operation(node)
                except NodeFault as exc:
                    failures.append(f"{node_label(self.urls[index])}: {exc}")
                    logger.info(
                        "tron %s: transient failure on %s: %s",
                        what,
                        node_label(self.urls[index]),
                        exc,
                    )
                    if attempt + 1 < self.attempts_per_node:
                        time.sleep(self.backoff_seconds * (2**attempt) * (1 + random.random()))
                    continue
                self._preferred = index
                return result
        raise ChainUnavailable(f"no TRON node answered {what}: " + "; ".join(failures[-4:]))

    def _request(self, node: Tron, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One HTTP call, with tronpy's and requests' errors sorted into ours."""
        try:
            payload = node.provider.make_request(path, body)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise NodeFault(type(exc).__name__) from exc
        except requests.HTTPError as exc:
            raise http_status_error(_status_of(exc)) from exc
        except ValueError as exc:  # not JSON: a proxy or a half-dead node
            raise NodeFault("malformed response") from exc
        return checked_payload(payload)

    @staticmethod
    def _check(payload: dict[str, Any]) -> dict[str, Any]:
        """Raise `ChainRejected` for java-tron's error payloads, else return the payload."""
        if "Error" in payload:
            raise ChainRejected(str(payload["Error"]), code="ERROR")
        code = payload.get("code")
        if isinstance(code, str) and code != "SUCCESS":
            raise ChainRejected(_decode_message(payload.get("message")), code=code)
        result = payload.get("result")
        if isinstance(result, dict) and result.get("code") not in (None, "SUCCESS"):
            raise ChainRejected(
                _decode_message(result.get("message")), code=str(result.get("code"))
            )
        return payload

    # --- reads ----------------------------------------------------------------------------

    def head_block(self, *, solid: bool = False) -> BlockRef:
        """The newest block, or with `solid` the newest solidified (irreversible) one."""
        path = "walletsolidity/getnowblock" if solid else "wallet/getnowblock"

        def read(node: Tron) -> BlockRef:
            block = self._check(self._request(node, path, {"visible": True}))
            raw = block.get("block_header", {}).get("raw_data", {})
            return BlockRef(
                number=int(raw.get("number", 0)),
                block_id=str(block.get("blockID", "")),
                timestamp_ms=int(raw.get("timestamp", 0)),
            )

        return self._call(read, what="head block")

    def chain_parameters(self) -> ChainParameters:
        def read(node: Tron) -> ChainParameters:
            payload = self._request(node, "wallet/getchainparameters", {})
            return ChainParameters.parse(self._check(payload))

        return self._call(read, what="chain parameters")

    def account_state(self, address: str) -> AccountState:
        """Balance, stake and resources of `address`; `exists` is False if never activated."""
        _validate(address)

        def read(node: Tron) -> AccountState:
            body = {"address": address, "visible": True}
            account = self._check(self._request(node, "wallet/getaccount", body))
            resource = (
                self._check(self._request(node, "wallet/getaccountresource", body))
                if account
                else {}
            )
            return AccountState.parse(address, account, resource)

        return self._call(read, what="account")

    def _constant_call(
        self, node: Tron, *, owner: str, contract: str, selector: str, parameter: str
    ) -> dict[str, Any]:
        payload = self._request(
            node,
            "wallet/triggerconstantcontract",
            {
                "owner_address": owner,
                "contract_address": contract,
                "function_selector": selector,
                "parameter": parameter,
                "visible": True,
            },
        )
        return self._check(payload)

    def usdt_balance(self, address: str) -> int:
        """USDT balance of `address` in base units (6 decimals)."""

        def read(node: Tron) -> int:
            payload = self._constant_call(
                node,
                owner=address,
                contract=USDT_CONTRACT,
                selector=USDT_BALANCE_SELECTOR,
                parameter=abi_address(address),
            )
            results = payload.get("constant_result") or ["0"]
            return int(results[0] or "0", 16)

        return self._call(read, what="USDT balance")

    def estimate_usdt_transfer_energy(self, *, owner: str, to: str, amount: int) -> int:
        """Energy a USDT transfer of `amount` base units from `owner` to `to` will cost."""
        parameter = abi_address(to) + abi_uint(amount)

        def read(node: Tron) -> int:
            payload = self._request(
                node,
                "wallet/estimateenergy",
                {
                    "owner_address": owner,
                    "contract_address": USDT_CONTRACT,
                    "function_selector": USDT_TRANSFER_SELECTOR,
                    "parameter": parameter,
                    "visible": True,
                },
            )
            result = payload.get("result", {})
            if "energy_required" in payload and result.get("result", True) is True:
                energy = int(payload["energy_required"])
            elif "estimate energy" in _decode_message(result.get("message")):
                # Nodes without vm.estimateEnergy: a constant call's energy_used instead
                # (it can under-estimate nested calls; USDT's transfer has none).
                constant = self._constant_call(
                    node,
                    owner=owner,
                    contract=USDT_CONTRACT,
                    selector=USDT_TRANSFER_SELECTOR,
                    parameter=parameter,
                )
                if constant.get("transaction", {}).get("ret", [{}])[0].get("ret") == "FAILED":
                    raise ChainRejected("the transfer would revert", code="REVERT")
                energy = int(constant.get("energy_used", 0))
            else:
                self._check(payload)
                raise ChainRejected(_decode_message(result.get("message")) or "no estimate")
            if energy <= 0:
                raise ChainRejected("the node returned no energy estimate", code="NO_ESTIMATE")
            return energy

        return self._call(read, what="energy estimate")

    def transaction_receipt(self, txid: str, *, solid: bool = False) -> TxReceipt | None:
        """The receipt of `txid` once it is in a block (solidified if `solid`), else None."""
        path = "walletsolidity/gettransactioninfobyid" if solid else "wallet/gettransactioninfobyid"

        def read(node: Tron) -> TxReceipt | None:
            info = self._check(self._request(node, path, {"value": txid, "visible": True}))
            if not info or "blockNumber" not in info:
                return None
            return TxReceipt.parse(txid, info)

        return self._call(read, what="transaction receipt")

    def transaction_verdict(self, txid: str) -> TxVerdict:
        """Everything needed to decide whether `txid` is final, from one node.

        The solidified head is read before the receipt: a receipt that appears in between
        is seen, while the reverse order could pair an old "no receipt" with a new head.
        """

        def read(node: Tron) -> TxVerdict:
            head = self._check(self._request(node, "walletsolidity/getnowblock", {"visible": True}))
            raw = head.get("block_header", {}).get("raw_data", {})
            solid_head = BlockRef(
                number=int(raw.get("number", 0)),
                block_id=str(head.get("blockID", "")),
                timestamp_ms=int(raw.get("timestamp", 0)),
            )
            info = self._check(
                self._request(
                    node, "walletsolidity/gettransactioninfobyid", {"value": txid, "visible": True}
                )
            )
            receipt = TxReceipt.parse(txid, info) if info and "blockNumber" in info else None
            known = bool(
                self._request(node, "wallet/gettransactionbyid", {"value": txid}).get("txID")
            )
            return TxVerdict(solid_head=solid_head, receipt=receipt, known=known)

        return self._call(read, what="transaction verdict")

    def trx_payment(self, txid: str) -> TrxPayment | None:
        """The TRX transfer `txid` (from one node), or None if the node has no such TRX
        transfer. `solidified` is True once its receipt is in a solidified block."""

        def read(node: Tron) -> TrxPayment | None:
            tx = self._request(node, "wallet/gettransactionbyid", {"value": txid, "visible": True})
            contracts = tx.get("raw_data", {}).get("contract", [])
            if len(contracts) != 1 or contracts[0].get("type") != "TransferContract":
                return None
            value = contracts[0].get("parameter", {}).get("value", {})
            info = self._check(
                self._request(
                    node, "walletsolidity/gettransactioninfobyid", {"value": txid, "visible": True}
                )
            )
            solidified = bool(info and "blockNumber" in info)
            failed = tx.get("ret", [{}])[0].get("contractRet", "SUCCESS") != "SUCCESS"
            return TrxPayment(
                txid=txid,
                sender=str(value.get("owner_address", "")),
                recipient=str(value.get("to_address", "")),
                amount_sun=int(value.get("amount", 0)),
                solidified=solidified,
                success=solidified and not failed and info.get("result") != "FAILED",
                block_timestamp_ms=int(info.get("blockTimeStamp", 0)) if solidified else 0,
            )

        return self._call(read, what="TRX payment")

    def transaction_known(self, txid: str) -> bool:
        """True if the node knows `txid` (pending or in a block)."""

        def read(node: Tron) -> bool:
            payload = self._request(node, "wallet/gettransactionbyid", {"value": txid})
            return bool(payload.get("txID"))

        return self._call(read, what="transaction lookup")

    # --- building ---------------------------------------------------------------------

    def _build(
        self, node: Tron, builder: TransactionBuilder, *, fee_limit: int | None
    ) -> UnsignedTransaction:
        head = self._check(self._request(node, "wallet/getnowblock", {"visible": True}))
        head_ts = int(head.get("block_header", {}).get("raw_data", {}).get("timestamp", 0))
        # Expiration from the node's clock: tronpy would use ours (docs/tron.md, Transactions).
        builder = builder.expiration(head_ts + self.expiration_ms - current_timestamp())
        if fee_limit is not None:
            builder = builder.fee_limit(fee_limit)
        try:
            transaction: Transaction = builder.build()
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise NodeFault(type(exc).__name__) from exc
        except requests.HTTPError as exc:
            raise http_status_error(_status_of(exc)) from exc
        except tronpy_errors.UnknownError as exc:
            code = exc.args[1] if len(exc.args) > 1 else ""
            if code in TRANSIENT_CODES:
                raise NodeFault(str(code)) from exc
            raise ChainRejected(str(exc.args[0]) if exc.args else "", code=str(code)) from exc
        except (
            tronpy_errors.ApiError,
            tronpy_errors.ValidationError,
            tronpy_errors.TransactionError,
            tronpy_errors.TaposError,
            tronpy_errors.BadSignature,
            tronpy_errors.BadAddress,
        ) as exc:
            raise ChainRejected(str(exc), code=type(exc).__name__) from exc
        except (ValueError, KeyError) as exc:  # a malformed answer from a half-dead node
            raise NodeFault(f"unexpected response: {type(exc).__name__}") from exc
        raw = transaction.to_json()
        raw.pop("permission", None)
        raw_data = raw["raw_data"]
        return UnsignedTransaction(
            txid=transaction.txid,
            raw=raw,
            expiration_ms=int(raw_data["expiration"]),
            ref_block_bytes=str(raw_data["ref_block_bytes"]),
            ref_block_hash=str(raw_data["ref_block_hash"]),
            fee_limit_sun=fee_limit,
        )

    def build_usdt_transfer(
        self, *, owner: str, to: str, amount: int, fee_limit: int
    ) -> UnsignedTransaction:
        """A USDT `transfer(to, amount)` from `owner`; `amount` in base units."""
        _validate(owner, to)
        parameter = abi_address(to) + abi_uint(amount)

        def build(node: Tron) -> UnsignedTransaction:
            # tronpy's generic builder (pinned 0.6.2): the contract's ABI is not needed for
            # a call whose selector and arguments we encode ourselves.
            builder = node.trx._build_transaction(
                "TriggerSmartContract",
                {
                    "owner_address": tron_address_to_hex(owner),
                    "contract_address": tron_address_to_hex(USDT_CONTRACT),
                    "data": USDT_TRANSFER_METHOD_ID + parameter,
                },
            )
            return self._build(node, builder, fee_limit=fee_limit)

        return self._call(build, what="USDT transfer")

    def build_trx_transfer(self, *, owner: str, to: str, amount_sun: int) -> UnsignedTransaction:
        _validate(owner, to)
        return self._call(
            lambda node: self._build(
                node, node.trx.transfer(owner, to, amount_sun), fee_limit=None
            ),
            what="TRX transfer",
        )

    def build_stake(self, *, owner: str, amount_sun: int) -> UnsignedTransaction:
        """Stake 2.0 FreezeBalanceV2 for ENERGY."""
        _validate(owner)
        return self._call(
            lambda node: self._build(
                node, node.trx.freeze_balance(owner, amount_sun, "ENERGY"), fee_limit=None
            ),
            what="stake",
        )

    def build_unstake(self, *, owner: str, amount_sun: int) -> UnsignedTransaction:
        """Stake 2.0 UnfreezeBalanceV2 of ENERGY stake (starts the unbonding wait)."""
        _validate(owner)
        return self._call(
            lambda node: self._build(
                node,
                node.trx.unfreeze_balance(owner, "ENERGY", unfreeze_balance=amount_sun),
                fee_limit=None,
            ),
            what="unstake",
        )

    def build_withdraw_unstaked(self, *, owner: str) -> UnsignedTransaction:
        """WithdrawExpireUnfreeze: move matured unstakes back to the balance."""
        _validate(owner)
        return self._call(
            lambda node: self._build(node, node.trx.withdraw_stake_balance(owner), fee_limit=None),
            what="withdraw unstaked",
        )

    def build_delegate(
        self, *, owner: str, receiver: str, amount_sun: int, lock_period_blocks: int = 0
    ) -> UnsignedTransaction:
        """DelegateResource of ENERGY; locked for `lock_period_blocks` when non-zero."""
        _validate(owner, receiver)
        return self._call(
            lambda node: self._build(
                node,
                node.trx.delegate_resource(
                    owner,
                    receiver,
                    amount_sun,
                    "ENERGY",
                    lock=lock_period_blocks > 0,
                    lock_period=lock_period_blocks or None,
                ),
                fee_limit=None,
            ),
            what="delegate",
        )

    def build_undelegate(
        self, *, owner: str, receiver: str, amount_sun: int
    ) -> UnsignedTransaction:
        _validate(owner, receiver)
        return self._call(
            lambda node: self._build(
                node,
                node.trx.undelegate_resource(owner, receiver, amount_sun, "ENERGY"),
                fee_limit=None,
            ),
            what="undelegate",
        )

    # --- signing and broadcast --------------------------------------------------------------

    @staticmethod
    def sign(unsigned: UnsignedTransaction, signer: Signer) -> dict[str, Any]:
        """The signed transaction JSON. `signer` must hold the owner's key."""
        signature = signer.sign_digest(bytes.fromhex(unsigned.txid))
        return {**unsigned.raw, "signature": [signature.hex()]}

    def broadcast(self, signed: dict[str, Any]) -> BroadcastResult:
        """Send `signed`. Rebroadcasting the same bytes is safe: a node that already has the
        transaction answers DUP_TRANSACTION_ERROR, which counts as accepted."""
        txid = str(signed["txID"])

        def send(node: Tron) -> BroadcastResult:
            payload = self._request(node, "wallet/broadcasttransaction", signed)
            if payload.get("result") is True:
                return BroadcastResult(txid=txid, accepted=True)
            code = str(payload.get("code", "ERROR"))
            message = _decode_message(payload.get("message"))
            if code in ALREADY_KNOWN_CODES:
                return BroadcastResult(txid=txid, accepted=True, code=code, message=message)
            return BroadcastResult(txid=txid, accepted=False, code=code, message=message)

        return self._call(send, what="broadcast")


_clients: dict[tuple[object, ...], ChainClient] = {}
_clients_lock = threading.Lock()


def chain_client() -> ChainClient:
    """The process's client for the configured nodes (rebuilt when settings change)."""
    key = (
        tuple(settings.TRON_NODE_URLS),
        settings.TRONGRID_API_KEY,
        settings.TRON_TIMEOUT_SECONDS,
        settings.TRON_TX_EXPIRATION_SECONDS,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = ChainClient(
                settings.TRON_NODE_URLS,
                timeout=settings.TRON_TIMEOUT_SECONDS,
                api_key=settings.TRONGRID_API_KEY,
                expiration_seconds=settings.TRON_TX_EXPIRATION_SECONDS,
            )
            _clients[key] = client
        return client
