"""Plain data records of the devnet (``__slots__`` dataclasses so 100k accounts stay small).

Times: ``*_slot`` fields count 3-second slots since the genesis block, exactly like java-tron's
``AccountCapsule`` (the API renders them as ``genesis_ts + 3000 * slot``); ``*_time`` fields are
millisecond timestamps of devnet time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

BLOCK_INTERVAL_MS = 3000
WINDOW_SLOTS = 28_800  # 24 h of 3-s slots (java-tron ResourceProcessor windowSize)
WINDOW_PRECISION = 1000  # java-tron stores optimised window sizes as slots * 1000
MAX_UNFREEZE_COUNT = 32

BANDWIDTH = 0
ENERGY = 1


@dataclass(slots=True)
class Unfreeze:
    """One pending Stake 2.0 unstake (``Account.unfrozenV2`` entry)."""

    resource: int
    amount: int
    expire_time: int


@dataclass(slots=True)
class Account:
    address: bytes
    balance: int = 0
    create_time: int = 0
    latest_opration_time: int = 0
    is_contract: bool = False
    # bandwidth obtained by staking (NetLimit) and its usage
    net_usage: int = 0
    latest_consume_time: int = 0  # slot
    net_window: int = WINDOW_SLOTS * WINDOW_PRECISION
    # the daily free bandwidth allowance
    free_net_usage: int = 0
    latest_consume_free_time: int = 0  # slot
    # energy
    energy_usage: int = 0
    latest_consume_time_for_energy: int = 0  # slot
    energy_window: int = WINDOW_SLOTS * WINDOW_PRECISION
    # Stake 2.0: own stake still held (after delegating out) per resource
    frozen_bandwidth: int = 0
    frozen_energy: int = 0
    delegated_bandwidth: int = 0  # delegated out to others
    delegated_energy: int = 0
    acquired_bandwidth: int = 0  # received from others
    acquired_energy: int = 0
    unfrozen: list[Unfreeze] | None = None


@dataclass(slots=True)
class Delegation:
    """``DelegatedResourceCapsule`` V2: one record per (from, to, locked)."""

    owner: bytes
    receiver: bytes
    locked: bool
    bandwidth: int = 0
    energy: int = 0
    expire_bandwidth: int = 0  # ms; only meaningful for locked records
    expire_energy: int = 0


@dataclass(slots=True)
class Block:
    number: int
    timestamp: int
    block_id: bytes
    txids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TxRecord:
    """An accepted transaction; ``info`` is its TransactionInfo in hex (visible=false) form."""

    txid: str
    raw_data: dict[str, Any]  # canonical: addresses hex
    raw_data_hex: str
    signature: list[str]
    contract_ret: str
    info: dict[str, Any]
    block_number: int = -1  # -1 while pending


def record_to_json(obj: Any) -> dict[str, Any]:
    """Serialise a dataclass record for the state file (bytes → hex)."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, bytes):
            value = "0x" + value.hex()
        elif isinstance(value, list) and value and isinstance(value[0], Unfreeze):
            value = [record_to_json(u) for u in value]
        out[f.name] = value
    return out


def _restore(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x"):
        return bytes.fromhex(value[2:])
    return value


def account_from_json(data: dict[str, Any]) -> Account:
    values = {k: _restore(v) for k, v in data.items()}
    if values.get("unfrozen"):
        values["unfrozen"] = [Unfreeze(**u) for u in values["unfrozen"]]
    return Account(**values)


def delegation_from_json(data: dict[str, Any]) -> Delegation:
    return Delegation(**{k: _restore(v) for k, v in data.items()})


def block_from_json(data: dict[str, Any]) -> Block:
    return Block(**{k: _restore(v) for k, v in data.items()})


def tx_from_json(data: dict[str, Any]) -> TxRecord:
    return TxRecord(**data)
