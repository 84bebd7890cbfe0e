"""Hand-written protobuf (proto3) codec for ``protocol.Transaction`` and the devnet's contracts.

java-tron computes a transaction's id as ``sha256(Transaction.raw.SerializeToString())`` from the
``raw_data`` JSON it receives (``Util.packTransaction``), so the devnet must serialise exactly like
protobuf-java: fields in field-number order, proto3 defaults (0, false, empty) omitted, int64 as
varint (negative → 10-byte two's complement), enums as varint.

Field numbers are from java-tron's ``protos/core/Tron.proto`` and ``protos/core/contract/*.proto``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tron_devnet import addresses

# kinds of scalar fields in contract messages
ADDR = "addr"  # bytes holding a 21-byte address; JSON: hex or base58
INT = "int"  # int64 varint
BOOL = "bool"
RESOURCE = "resource"  # protocol.ResourceCode enum; JSON: name or number
HEXBYTES = "hex"  # bytes; JSON: hex string

RESOURCE_CODES = {"BANDWIDTH": 0, "ENERGY": 1, "TRON_POWER": 2}
RESOURCE_NAMES = {v: k for k, v in RESOURCE_CODES.items()}

# contract type name -> (ContractType enum number, [(field number, json key, kind)])
CONTRACTS: dict[str, tuple[int, list[tuple[int, str, str]]]] = {
    "AccountCreateContract": (
        0,
        [(1, "owner_address", ADDR), (2, "account_address", ADDR), (3, "type", INT)],
    ),
    "TransferContract": (
        1,
        [(1, "owner_address", ADDR), (2, "to_address", ADDR), (3, "amount", INT)],
    ),
    "TriggerSmartContract": (
        31,
        [
            (1, "owner_address", ADDR),
            (2, "contract_address", ADDR),
            (3, "call_value", INT),
            (4, "data", HEXBYTES),
            (5, "call_token_value", INT),
            (6, "token_id", INT),
        ],
    ),
    "FreezeBalanceV2Contract": (
        54,
        [(1, "owner_address", ADDR), (2, "frozen_balance", INT), (3, "resource", RESOURCE)],
    ),
    "UnfreezeBalanceV2Contract": (
        55,
        [(1, "owner_address", ADDR), (2, "unfreeze_balance", INT), (3, "resource", RESOURCE)],
    ),
    "WithdrawExpireUnfreezeContract": (56, [(1, "owner_address", ADDR)]),
    "DelegateResourceContract": (
        57,
        [
            (1, "owner_address", ADDR),
            (2, "resource", RESOURCE),
            (3, "balance", INT),
            (4, "receiver_address", ADDR),
            (5, "lock", BOOL),
            (6, "lock_period", INT),
        ],
    ),
    "UnDelegateResourceContract": (
        58,
        [
            (1, "owner_address", ADDR),
            (2, "resource", RESOURCE),
            (3, "balance", INT),
            (4, "receiver_address", ADDR),
        ],
    ),
    "CancelAllUnfreezeV2Contract": (59, [(1, "owner_address", ADDR)]),
}
CONTRACT_NAMES = {num: name for name, (num, _) in CONTRACTS.items()}
TYPE_URL_PREFIX = "type.googleapis.com/protocol."


class ProtoError(ValueError):
    """Malformed transaction JSON / bytes (java-tron answers with an ``Error`` JSON)."""


# ---------------------------------------------------------------- encoding primitives


def varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 two's complement, always 10 bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(field: int, wire: int) -> bytes:
    return varint((field << 3) | wire)


def f_varint(field: int, value: int) -> bytes:
    return key(field, 0) + varint(value) if value else b""


def f_bytes(field: int, value: bytes) -> bytes:
    return key(field, 2) + varint(len(value)) + value if value else b""


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ProtoError(f"field {name} expects an integer, got {value!r}")


def _hex(value: Any, name: str) -> bytes:
    if value is None or value == "":
        return b""
    if not isinstance(value, str):
        raise ProtoError(f"field {name} expects a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise ProtoError(f"INVALID hex String in {name}") from exc


def resource_code(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value in RESOURCE_CODES:
        return RESOURCE_CODES[value]
    raise ProtoError(f"invalid resource {value!r}")


def encode_contract_value(type_name: str, value: dict[str, Any]) -> bytes:
    """Serialise a contract parameter ``value`` JSON object into its protobuf message bytes."""
    try:
        _, fields = CONTRACTS[type_name]
    except KeyError:
        raise ProtoError(f"contract type {type_name} is not supported by the devnet") from None
    out = bytearray()
    for num, name, kind in fields:
        raw = value.get(name)
        if raw is None:
            continue
        if kind == ADDR:
            try:
                out += f_bytes(num, addresses.parse(raw))
            except addresses.AddressError as exc:
                raise ProtoError(str(exc)) from exc
        elif kind in (INT, BOOL):
            out += f_varint(num, _as_int(raw, name))
        elif kind == RESOURCE:
            out += f_varint(num, resource_code(raw))
        else:
            out += f_bytes(num, _hex(raw, name))
    return bytes(out)


def encode_raw(raw_data: dict[str, Any]) -> bytes:
    """Serialise ``Transaction.raw`` from java-tron's ``raw_data`` JSON."""
    if not isinstance(raw_data, dict):
        raise ProtoError("raw_data must be an object")
    contracts = raw_data.get("contract")
    if not isinstance(contracts, list):
        raise ProtoError("raw_data.contract must be a list")
    out = bytearray()
    out += f_bytes(1, _hex(raw_data.get("ref_block_bytes"), "ref_block_bytes"))
    out += f_varint(3, _as_int(raw_data.get("ref_block_num", 0), "ref_block_num"))
    out += f_bytes(4, _hex(raw_data.get("ref_block_hash"), "ref_block_hash"))
    out += f_varint(8, _as_int(raw_data.get("expiration", 0), "expiration"))
    out += f_bytes(10, _hex(raw_data.get("data"), "data"))
    for contract in contracts:
        if not isinstance(contract, dict):
            raise ProtoError("contract entries must be objects")
        type_name = contract.get("type")
        param = contract.get("parameter") or {}
        if not isinstance(type_name, str) or type_name not in CONTRACTS:
            raise ProtoError(f"contract type {type_name!r} is not supported by the devnet")
        type_url = param.get("type_url") or TYPE_URL_PREFIX + type_name
        any_msg = f_bytes(1, type_url.encode()) + f_bytes(
            2, encode_contract_value(type_name, param.get("value") or {})
        )
        body = (
            f_varint(1, CONTRACTS[type_name][0])
            + key(2, 2)
            + varint(len(any_msg))
            + any_msg
            + f_bytes(3, _hex(contract.get("provider"), "provider"))
            + f_bytes(4, _hex(contract.get("ContractName"), "ContractName"))
            + f_varint(5, _as_int(contract.get("Permission_id", 0), "Permission_id"))
        )
        out += key(11, 2) + varint(len(body)) + body
    out += f_varint(14, _as_int(raw_data.get("timestamp", 0), "timestamp"))
    out += f_varint(18, _as_int(raw_data.get("fee_limit", 0), "fee_limit"))
    return bytes(out)


def encode_transaction(raw_bytes: bytes, signatures: list[bytes]) -> bytes:
    """Serialise ``Transaction`` without ``ret`` (what BandwidthProcessor charges for)."""
    out = bytearray(key(1, 2) + varint(len(raw_bytes)) + raw_bytes)
    for sig in signatures:
        out += key(2, 2) + varint(len(sig)) + sig
    return bytes(out)


# ---------------------------------------------------------------- decoding (for broadcasthex)


def iter_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field, wire_type, value)`` of a serialised message (varint and length-delimited)."""
    pos = 0
    n = len(data)

    def read_varint() -> int:
        nonlocal pos
        shift = 0
        result = 0
        while True:
            if pos >= n:
                raise ProtoError("truncated varint")
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    while pos < n:
        tag = read_varint()
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            yield field, wire, read_varint()
        elif wire == 2:
            length = read_varint()
            if pos + length > n:
                raise ProtoError("truncated field")
            yield field, wire, data[pos : pos + length]
            pos += length
        elif wire == 1:
            yield field, wire, data[pos : pos + 8]
            pos += 8
        elif wire == 5:
            yield field, wire, data[pos : pos + 4]
            pos += 4
        else:
            raise ProtoError(f"unsupported wire type {wire}")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def decode_contract_value(type_name: str, data: bytes) -> dict[str, Any]:
    _, fields = CONTRACTS[type_name]
    by_num = {num: (name, kind) for num, name, kind in fields}
    out: dict[str, Any] = {}
    for num, _wire, val in iter_fields(data):
        if num not in by_num:
            continue
        name, kind = by_num[num]
        if kind in (ADDR, HEXBYTES) and isinstance(val, bytes):
            out[name] = val.hex()
        elif kind == BOOL and isinstance(val, int):
            out[name] = bool(val)
        elif kind == RESOURCE and isinstance(val, int):
            out[name] = RESOURCE_NAMES.get(val, val)
        elif isinstance(val, int):
            out[name] = _signed(val)
    return out


def decode_transaction(data: bytes) -> tuple[dict[str, Any], list[bytes]]:
    """Parse a serialised ``Transaction`` into (raw_data JSON with hex addresses, signatures)."""
    raw_bytes = b""
    sigs: list[bytes] = []
    for num, _wire, val in iter_fields(data):
        if num == 1 and isinstance(val, bytes):
            raw_bytes = val
        elif num == 2 and isinstance(val, bytes):
            sigs.append(val)
    raw: dict[str, Any] = {"contract": []}
    for num, _wire, val in iter_fields(raw_bytes):
        if num == 1 and isinstance(val, bytes):
            raw["ref_block_bytes"] = val.hex()
        elif num == 3 and isinstance(val, int):
            raw["ref_block_num"] = _signed(val)
        elif num == 4 and isinstance(val, bytes):
            raw["ref_block_hash"] = val.hex()
        elif num == 8 and isinstance(val, int):
            raw["expiration"] = _signed(val)
        elif num == 10 and isinstance(val, bytes):
            raw["data"] = val.hex()
        elif num == 14 and isinstance(val, int):
            raw["timestamp"] = _signed(val)
        elif num == 18 and isinstance(val, int):
            raw["fee_limit"] = _signed(val)
        elif num == 11 and isinstance(val, bytes):
            raw["contract"].append(_decode_contract(val))
    return raw, sigs


def _decode_contract(data: bytes) -> dict[str, Any]:
    type_num = 0
    type_url = ""
    value = b""
    perm = 0
    for num, _wire, val in iter_fields(data):
        if num == 1 and isinstance(val, int):
            type_num = val
        elif num == 2 and isinstance(val, bytes):
            for anum, _w, aval in iter_fields(val):
                if anum == 1 and isinstance(aval, bytes):
                    type_url = aval.decode()
                elif anum == 2 and isinstance(aval, bytes):
                    value = aval
        elif num == 5 and isinstance(val, int):
            perm = val
    name = CONTRACT_NAMES.get(type_num)
    if name is None:
        raise ProtoError(f"contract type {type_num} is not supported by the devnet")
    out: dict[str, Any] = {
        "parameter": {"value": decode_contract_value(name, value), "type_url": type_url},
        "type": name,
    }
    if perm:
        out["Permission_id"] = perm
    return out
