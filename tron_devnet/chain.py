"""The devnet chain: devnet time, blocks, accounts, the mempool and transaction admission.

Time model: devnet time = wall clock + ``offset_ms`` (the sum of ``/devnet/advance`` calls, plus
whatever manual mining pushed ahead). Like java-tron, everything that depends on "now" inside the
chain (expiration checks, resource recovery, unfreeze/lock expiry) uses the *head block* time.

Blocks are cheap: only blocks with transactions are stored; an empty block's timestamp comes from a
short list of (first number, first timestamp) segments of 3-s spacing and its id is a hash of
(seed, number, timestamp), so advancing 14 days is O(1).

Admission (``broadcast``) follows java-tron's order: SERVER_BUSY, duplicate, size, signature,
TAPOS, expiration, then bandwidth and the contract's validate/execute. Accepted transactions are
applied at once to the state (java-tron executes pending transactions too) and are included in
the next block; receipts become visible then.
"""

from __future__ import annotations

import bisect
import copy
import json
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tron_devnet import addresses, economics, protobuf, usdt
from tron_devnet.actuators import Execution, TxFailure, execute_contract, validate_for_build
from tron_devnet.crypto import address_of_private_key, recover_address, sha256
from tron_devnet.faults import Faults
from tron_devnet.state import (
    BLOCK_INTERVAL_MS,
    Account,
    Block,
    Delegation,
    TxRecord,
    account_from_json,
    block_from_json,
    delegation_from_json,
    record_to_json,
    tx_from_json,
)

if TYPE_CHECKING:
    from tron_devnet.market import Market

MAX_TX_SIZE = 500 * 1024  # java-tron TRANSACTION_MAX_BYTE_SIZE
MAX_EXPIRATION_MS = 24 * 3600 * 1000  # Constant.MAXIMUM_TIME_UNTIL_EXPIRATION
TAPOS_WINDOW = 65_536
RESULT_SIZE_IN_TX = 64  # MAX_RESULT_SIZE_IN_TX, charged per contract
STATE_VERSION = 1
TXID_CACHE_MS = 3600 * 1000  # Manager.transactionIdCache: expireAfterWrite 1 hour
TXID_CACHE_SIZE = 100_000

# Deterministic genesis key for `--deterministic` / TRON_DEVNET_DETERMINISTIC=1 (DEVNET ONLY).
DETERMINISTIC_GENESIS_KEY = "b5a4cea271ff424d7c31dc12a3e43e401df7a40d7412a15750f3f0b6b5449a28"


class BroadcastError(Exception):
    """A java-tron ``response_code`` rejection (message is the plain text before hex-encoding)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def now_wall_ms() -> int:
    return int(time.time() * 1000)


class Chain:
    """All devnet state. Not thread-safe: the server calls it from one event loop."""

    def __init__(
        self,
        *,
        genesis_private_key: str | None = None,
        genesis_trx: int = 1_000_000_000,
        params: dict[str, int] | None = None,
        solidity_lag: int = 0,
        seed: bytes | None = None,
    ) -> None:
        self.genesis_private_key = genesis_private_key or secrets.token_hex(32)
        self.genesis_address = address_of_private_key(self.genesis_private_key)
        self.genesis_trx = genesis_trx
        self.solidity_lag = max(0, solidity_lag)
        self.seed = seed or secrets.token_bytes(16)
        self.params: dict[str, int] = economics.default_params()
        if params:
            self.params.update(params)
        self.faults = Faults()
        self.offset_ms = 0
        # one slot in the past, so that the first block mined right away is not in the future
        self.genesis_ts = now_wall_ms() // BLOCK_INTERVAL_MS * BLOCK_INTERVAL_MS - BLOCK_INTERVAL_MS
        self.head_number = 0
        self.head_ts = self.genesis_ts
        self.segments: list[tuple[int, int]] = [(0, self.genesis_ts)]
        self.blocks: dict[int, Block] = {}
        self.txs: dict[str, TxRecord] = {}
        self.pending: list[str] = []
        self.dropped: set[str] = set()  # accepted-but-dropped txids (fault injection)
        self.seen: dict[str, int] = {}  # txid -> devnet ms first broadcast (transactionIdCache)
        self.accounts: dict[bytes, Account] = {}
        self.delegations: dict[tuple[bytes, bytes, bool], Delegation] = {}
        self.delegated_to: dict[bytes, set[bytes]] = {}  # owner -> receivers
        self.delegated_from: dict[bytes, set[bytes]] = {}  # receiver -> owners
        self.usdt = usdt.Usdt()
        self.staked_energy_trx = 0  # devnet stakes added to TotalEnergyWeight
        self.staked_net_trx = 0
        self.dirty = True
        self._witness = addresses.contract_address_for(self.seed + b"witness")
        self._genesis_block()
        from tron_devnet.market import Market  # it builds on this module

        self.market: Market = Market(self)  # the rental market (tron_devnet/market.py)

    # ------------------------------------------------------------------ setup

    def _genesis_block(self) -> None:
        genesis = self.get_or_create(self.genesis_address)
        genesis.balance = self.genesis_trx * economics.TRX
        contract = self.get_or_create(usdt.ADDRESS)
        contract.is_contract = True

    def get_or_create(self, addr: bytes, create_time: int | None = None) -> Account:
        acct = self.accounts.get(addr)
        if acct is None:
            acct = Account(address=addr, create_time=create_time or self.head_ts)
            self.accounts[addr] = acct
        return acct

    # ------------------------------------------------------------------ time and blocks

    def now_ms(self) -> int:
        return now_wall_ms() + self.offset_ms

    def slot_of(self, ts: int) -> int:
        return (ts - self.genesis_ts) // BLOCK_INTERVAL_MS

    @property
    def head_slot(self) -> int:
        return self.slot_of(self.head_ts)

    @property
    def exec_ts(self) -> int:
        """Timestamp transactions execute at: the next block's (they are applied when admitted)."""
        return self.head_ts + BLOCK_INTERVAL_MS

    @property
    def exec_slot(self) -> int:
        return self.head_slot + 1

    def slot_ms(self, slot: int) -> int:
        return self.genesis_ts + slot * BLOCK_INTERVAL_MS

    @property
    def solid_number(self) -> int:
        return max(0, self.head_number - self.solidity_lag)

    def block_ts(self, number: int) -> int:
        i = bisect.bisect_right(self.segments, (number, 1 << 62)) - 1
        start_num, start_ts = self.segments[i]
        return start_ts + (number - start_num) * BLOCK_INTERVAL_MS

    def block_id(self, number: int) -> bytes:
        block = self.blocks.get(number)
        if block is not None:
            return block.block_id
        return self._make_id(number, self.block_ts(number), [])

    def _make_id(self, number: int, ts: int, txids: list[str]) -> bytes:
        payload = self.seed + number.to_bytes(8, "big") + ts.to_bytes(8, "big", signed=True)
        payload += b"".join(bytes.fromhex(t) for t in txids)
        return number.to_bytes(8, "big") + sha256(payload)[8:]

    def produce_blocks(self, first_ts: int, count: int) -> None:
        """Append ``count`` blocks: the first at ``first_ts`` with the mempool, then every 3 s."""
        if count <= 0:
            return
        first_ts = max(first_ts, self.head_ts + BLOCK_INTERVAL_MS)
        number = self.head_number + 1
        if first_ts != self.head_ts + BLOCK_INTERVAL_MS:
            self.segments.append((number, first_ts))
        txids, self.pending = self.pending, []
        if txids:
            block = Block(number, first_ts, self._make_id(number, first_ts, txids), txids)
            self.blocks[number] = block
            for txid in txids:
                rec = self.txs[txid]
                rec.block_number = number
                rec.info["blockNumber"] = number
                rec.info["blockTimeStamp"] = first_ts
            self.dirty = True
        self.head_number = number + count - 1
        self.head_ts = first_ts + (count - 1) * BLOCK_INTERVAL_MS

    def _aligned(self, ts: int) -> int:
        return ts - (ts - self.genesis_ts) % BLOCK_INTERVAL_MS

    def tick(self) -> int:
        """Realtime mode: produce every slot up to devnet now. Returns blocks produced."""
        target = self._aligned(self.now_ms())
        if target <= self.head_ts:
            return 0
        count = (target - self.head_ts) // BLOCK_INTERVAL_MS
        self.produce_blocks(self.head_ts + BLOCK_INTERVAL_MS, count)
        return count

    def mine(self, count: int) -> None:
        """Produce ``count`` blocks now; devnet time moves with them so it never trails the head."""
        if count <= 0:
            return
        self.produce_blocks(
            max(self.head_ts + BLOCK_INTERVAL_MS, self._aligned(self.now_ms())), count
        )
        self._catch_up_clock()

    def advance(self, seconds: float) -> None:
        """Move devnet time forward by ``seconds``, producing seconds/3 blocks (lazily)."""
        if seconds <= 0:
            return
        self.offset_ms += int(seconds * 1000)
        target = self._aligned(self.now_ms())
        count = int(seconds // 3)
        if count > 0:
            first = max(self.head_ts + BLOCK_INTERVAL_MS, target - (count - 1) * BLOCK_INTERVAL_MS)
            self.produce_blocks(first, count)
        self._catch_up_clock()
        self.dirty = True

    def _catch_up_clock(self) -> None:
        lag = self.head_ts - self.now_ms()
        if lag > 0:
            self.offset_ms += lag
        self.dirty = True

    # ------------------------------------------------------------------ economics helpers

    def energy_weight(self) -> int:
        return economics.energy_weight(self.params, self.staked_energy_trx)

    def net_weight(self) -> int:
        return economics.net_weight(self.params, self.staked_net_trx)

    def energy_limit(self, acct: Account) -> int:
        return economics.energy_limit(acct, self.params, self.energy_weight())

    def net_limit(self, acct: Account) -> int:
        return economics.net_limit(acct, self.params, self.net_weight())

    def left_energy(self, acct: Account) -> int:
        return max(0, self.energy_limit(acct) - economics.energy_used_now(acct, self.exec_slot))

    # ------------------------------------------------------------------ delegation index

    def delegation(self, owner: bytes, receiver: bytes, locked: bool) -> Delegation | None:
        return self.delegations.get((owner, receiver, locked))

    def put_delegation(self, d: Delegation) -> None:
        self.delegations[(d.owner, d.receiver, d.locked)] = d
        self.delegated_to.setdefault(d.owner, set()).add(d.receiver)
        self.delegated_from.setdefault(d.receiver, set()).add(d.owner)

    def drop_delegation_if_empty(self, d: Delegation) -> None:
        if d.bandwidth or d.energy:
            return
        self.delegations.pop((d.owner, d.receiver, d.locked), None)
        if self.delegation(d.owner, d.receiver, not d.locked) is None:
            self.delegated_to.get(d.owner, set()).discard(d.receiver)
            self.delegated_from.get(d.receiver, set()).discard(d.owner)

    # ------------------------------------------------------------------ transactions

    def txid_of(self, raw_data: dict[str, Any]) -> tuple[str, bytes]:
        raw = protobuf.encode_raw(raw_data)
        return sha256(raw).hex(), raw

    def build_transaction(
        self,
        type_name: str,
        value: dict[str, Any],
        *,
        fee_limit: int | None = None,
        extra_raw: dict[str, Any] | None = None,
        validate: bool = True,
    ) -> dict[str, Any]:
        """java-tron ``createTransactionCapsule``: validate, then reference the solid block.

        Raises :class:`TxFailure` (rendered as ``{"Error": "...ContractValidateException : …"}``).
        """
        canonical = protobuf.decode_contract_value(
            type_name, protobuf.encode_contract_value(type_name, value)
        )
        if validate:
            validate_for_build(self, type_name, canonical)
        ref = self.block_id(self.solid_number)
        raw: dict[str, Any] = {
            "contract": [
                {
                    "parameter": {
                        "value": canonical,
                        "type_url": protobuf.TYPE_URL_PREFIX + type_name,
                    },
                    "type": type_name,
                }
            ],
            "ref_block_bytes": ref[6:8].hex(),
            "ref_block_hash": ref[8:16].hex(),
            "expiration": self.head_ts + 60_000,
        }
        if fee_limit:
            raw["fee_limit"] = fee_limit
        if extra_raw:
            raw.update(extra_raw)
        raw["timestamp"] = self.now_ms()
        txid, raw_bytes = self.txid_of(raw)
        return {"txID": txid, "raw_data": raw, "raw_data_hex": raw_bytes.hex()}

    def raw_bytes_of(self, raw_data: Any, raw_data_hex: Any = None) -> bytes:
        """The signed bytes: ``raw_data_hex`` when the client sent it, else ``raw_data`` encoded.

        tronpy sends only the JSON (java-tron re-serialises it); clients that send the hex get
        their exact bytes hashed, so JSON fields the devnet does not model cannot change the id.
        """
        if isinstance(raw_data_hex, str) and raw_data_hex:
            raw = bytes.fromhex(raw_data_hex)
            protobuf.decode_transaction(protobuf.encode_transaction(raw, []))  # must parse
            return raw
        if not isinstance(raw_data, dict):
            raise protobuf.ProtoError("raw_data is missing")
        return protobuf.encode_raw(raw_data)

    def broadcast(
        self, raw_data: Any, signatures: list[str], raw_data_hex: Any = None
    ) -> tuple[str, bool]:
        """Admit a signed transaction. Returns (txid, dropped). Raises BroadcastError."""
        try:
            raw_bytes = self.raw_bytes_of(raw_data, raw_data_hex)
            txid = sha256(raw_bytes).hex()
            sigs = [bytes.fromhex(s) for s in signatures]
        except (protobuf.ProtoError, ValueError, TypeError) as exc:
            raise BroadcastError("OTHER_ERROR", f"other error : {exc}") from None
        # Wallet.broadcastTransaction: SERVER_BUSY and the txid cache come first; the cache
        # remembers every txid that got this far for an hour, even if it is then rejected.
        if self.faults.take_server_busy():
            raise BroadcastError("SERVER_BUSY", "")
        now = self.now_ms()
        seen_at = self.seen.get(txid)
        if seen_at is not None and now - seen_at < TXID_CACHE_MS:
            raise BroadcastError("DUP_TRANSACTION_ERROR", "")
        self._remember(txid, now)
        # Manager.processTransaction order: TAPOS, size/expiration, contract count, dup, signature
        canonical, _ = protobuf.decode_transaction(protobuf.encode_transaction(raw_bytes, []))
        self._check_tapos(canonical)
        if len(protobuf.encode_transaction(raw_bytes, sigs)) > MAX_TX_SIZE:
            raise BroadcastError("TOO_BIG_TRANSACTION_ERROR", "transaction size is too big")
        self._check_expiration(canonical)
        contracts = canonical["contract"]
        if len(contracts) != 1:
            raise BroadcastError(
                "CONTRACT_VALIDATE_ERROR",
                "contract validate error : act size should be exactly 1, this is extend feature",
            )
        if txid in self.txs:
            raise BroadcastError("DUP_TRANSACTION_ERROR", "dup transaction")
        self._check_signature(txid, contracts[0], sigs)
        if self.faults.take_drop(txid):
            # accepted by "this node" but never relayed: it will never reach a block
            self.dropped.add(txid)
            return txid, True
        size = len(protobuf.encode_transaction(raw_bytes, sigs)) + RESULT_SIZE_IN_TX * len(
            contracts
        )
        result = self._execute(canonical, size)
        info: dict[str, Any] = {"id": txid}
        info.update(result.info())
        self.txs[txid] = TxRecord(
            txid=txid,
            raw_data=canonical,
            raw_data_hex=raw_bytes.hex(),
            signature=[s.hex() for s in sigs],
            contract_ret=result.contract_ret,
            info=info,
        )
        self.pending.append(txid)
        self.dirty = True
        return txid, False

    def _remember(self, txid: str, now: int) -> None:
        if len(self.seen) > TXID_CACHE_SIZE:  # java-tron's cache is bounded too
            self.seen = {t: at for t, at in self.seen.items() if now - at < TXID_CACHE_MS}
        self.seen[txid] = now

    def _check_signature(self, txid: str, contract: dict[str, Any], sigs: list[bytes]) -> None:
        if not sigs:
            raise BroadcastError("SIGERROR", "validate signature error miss sig or contract")
        owner_hex = contract["parameter"]["value"].get("owner_address")
        if not owner_hex:
            raise BroadcastError("SIGERROR", "validate signature error miss sig or contract")
        owner = bytes.fromhex(owner_hex)
        if len(sigs) > 1:
            raise BroadcastError("SIGERROR", "validate signature error too many signatures")
        signer = recover_address(bytes.fromhex(txid), sigs[0])
        if signer is None:
            raise BroadcastError("SIGERROR", "validate signature error Signature is not valid")
        if signer != owner:
            raise BroadcastError(
                "SIGERROR",
                "validate signature error "
                f"{sigs[0].hex()} is signed by {addresses.to_base58(signer)} "
                "but it is not contained of permission.",
            )

    def _check_tapos(self, raw: dict[str, Any]) -> None:
        ref_bytes = bytes.fromhex(raw.get("ref_block_bytes", ""))
        ref_hash = bytes.fromhex(raw.get("ref_block_hash", ""))
        found = None
        if len(ref_bytes) == 2:
            low = int.from_bytes(ref_bytes, "big")
            candidate = self.head_number - ((self.head_number - low) % TAPOS_WINDOW)
            if 0 <= candidate <= self.head_number:
                found = candidate
        if found is None:
            raise BroadcastError(
                "TAPOS_ERROR",
                "Tapos check error",
            )
        if self.block_id(found)[8:16] != ref_hash:
            raise BroadcastError(
                "TAPOS_ERROR",
                "Tapos check error",
            )

    def _check_expiration(self, raw: dict[str, Any]) -> None:
        expiration = int(raw.get("expiration", 0))
        if expiration <= self.head_ts or expiration > self.head_ts + MAX_EXPIRATION_MS:
            raise BroadcastError(
                "TRANSACTION_EXPIRATION_ERROR",
                "transaction expired",
            )

    def _execute(self, raw: dict[str, Any], size: int) -> Execution:
        """Bandwidth + contract, atomically: a validation failure rolls the accounts back."""
        contract = raw["contract"][0]
        value = contract["parameter"]["value"]
        owner_addr = (
            bytes.fromhex(value.get("owner_address", "")) if value.get("owner_address") else b""
        )
        touched = {owner_addr}
        for key in ("to_address", "receiver_address", "account_address"):
            if value.get(key):
                touched.add(bytes.fromhex(value[key]))
        snapshot = {a: copy.deepcopy(self.accounts[a]) for a in touched if a in self.accounts}
        try:
            return execute_contract(self, contract["type"], value, raw, size)
        except TxFailure as failure:
            for a in touched:
                if a in snapshot:
                    self.accounts[a] = snapshot[a]
                else:
                    self.accounts.pop(a, None)
            raise BroadcastError(failure.code, failure.message) from None

    # ------------------------------------------------------------------ control API helpers

    def fund(self, addr: bytes, sun: int) -> Account:
        acct = self.get_or_create(addr)
        acct.balance += sun
        self.dirty = True
        return acct

    def set_params(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            if k not in self.params:
                raise KeyError(k)
            self.params[k] = int(v)
        if "getTotalEnergyLimit" in values and "getTotalEnergyCurrentLimit" not in values:
            self.params["getTotalEnergyCurrentLimit"] = self.params["getTotalEnergyLimit"]
        self.dirty = True

    # ------------------------------------------------------------------ persistence

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "genesis_private_key": self.genesis_private_key,
            "genesis_trx": self.genesis_trx,
            "seed": self.seed.hex(),
            "params": self.params,
            "offset_ms": self.offset_ms,
            "genesis_ts": self.genesis_ts,
            "head_number": self.head_number,
            "head_ts": self.head_ts,
            "segments": self.segments,
            "blocks": [record_to_json(b) for b in self.blocks.values()],
            "txs": [record_to_json(t) for t in self.txs.values()],
            "pending": self.pending,
            "dropped": sorted(self.dropped),
            "accounts": [record_to_json(a) for a in self.accounts.values()],
            "delegations": [record_to_json(d) for d in self.delegations.values()],
            "usdt": self.usdt.to_json(),
            "staked_energy_trx": self.staked_energy_trx,
            "staked_net_trx": self.staked_net_trx,
            "market": self.market.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, solidity_lag: int = 0) -> Chain:
        chain = cls(
            genesis_private_key=data["genesis_private_key"],
            genesis_trx=data["genesis_trx"],
            params=data["params"],
            solidity_lag=solidity_lag,
            seed=bytes.fromhex(data["seed"]),
        )
        # devnet time = wall clock + offset, so time spent offline counts like for a real chain
        chain.offset_ms = int(data["offset_ms"])
        chain.genesis_ts = data["genesis_ts"]
        chain.head_number = data["head_number"]
        chain.head_ts = data["head_ts"]
        chain.segments = [(int(n), int(t)) for n, t in data["segments"]]
        chain.blocks = {b["number"]: block_from_json(b) for b in data["blocks"]}
        chain.txs = {t["txid"]: tx_from_json(t) for t in data["txs"]}
        chain.pending = list(data["pending"])
        chain.dropped = set(data["dropped"])
        chain.accounts = {}
        for a in data["accounts"]:
            acct = account_from_json(a)
            chain.accounts[acct.address] = acct
        chain.delegations = {}
        chain.delegated_to = {}
        chain.delegated_from = {}
        for d in data["delegations"]:
            chain.put_delegation(delegation_from_json(d))
        chain.usdt = usdt.Usdt.from_json(data["usdt"])
        chain.staked_energy_trx = data["staked_energy_trx"]
        chain.staked_net_trx = data["staked_net_trx"]
        chain.market.load(data.get("market", {}))
        chain.dirty = False
        return chain

    def save(self, path: str | os.PathLike[str]) -> None:
        """Atomically write the state file (write to a temp file, then rename)."""
        target = Path(path)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")))
        os.replace(tmp, target)
        self.dirty = False

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, solidity_lag: int = 0) -> Chain:
        return cls.from_json(json.loads(Path(path).read_text()), solidity_lag=solidity_lag)
