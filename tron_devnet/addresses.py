"""TRON address helpers: 21-byte raw form (0x41 + 20 bytes), hex ("41…") and base58check ("T…")."""

from __future__ import annotations

import functools
import hashlib

import base58

PREFIX = 0x41


class AddressError(ValueError):
    """Raised for strings that are neither valid base58check nor valid 41-prefixed hex."""


@functools.lru_cache(maxsize=1 << 17)
def to_base58(raw: bytes) -> str:
    """Base58check form of a 21-byte address."""
    return base58.b58encode_check(raw).decode()


def to_hex(raw: bytes) -> str:
    """Lowercase hex form ("41…") of a 21-byte address."""
    return raw.hex()


def parse(value: object) -> bytes:
    """Parse an address given either as base58check or as hex (41-prefixed or 20-byte TVM form).

    java-tron decides by the request's ``visible`` flag; the devnet accepts both forms regardless
    (it only has to answer in the requested form), which is more forgiving but never ambiguous:
    base58 addresses are 34 chars starting with "T", hex ones are 40/42 hex chars.
    """
    if isinstance(value, str):
        return _parse_str(value)
    raise AddressError(f"invalid address {value!r}")


@functools.lru_cache(maxsize=1 << 17)
def _parse_str(value: str) -> bytes:
    if not value:
        raise AddressError(f"invalid address {value!r}")
    if len(value) == 34 and value[0] == "T":
        try:
            raw = base58.b58decode_check(value)
        except ValueError as exc:
            raise AddressError(f"invalid base58 address {value!r}") from exc
        if len(raw) != 21 or raw[0] != PREFIX:
            raise AddressError(f"invalid base58 address {value!r}")
        return bytes(raw)
    text = value[2:] if value[:2] in ("0x", "0X") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise AddressError(f"invalid hex address {value!r}") from exc
    if len(raw) == 20:
        raw = bytes([PREFIX]) + raw
    if len(raw) != 21 or raw[0] != PREFIX:
        raise AddressError(f"invalid hex address {value!r}")
    return raw


def is_valid(value: object) -> bool:
    try:
        parse(value)
    except AddressError:
        return False
    return True


def render(raw: bytes, visible: bool) -> str:
    """Address in the form the request asked for (``visible`` → base58, else hex)."""
    return to_base58(raw) if visible else raw.hex()


def from_public_key(pub64: bytes) -> bytes:
    """Address of an uncompressed secp256k1 public key (64 bytes, without the 0x04 prefix)."""
    from tron_devnet.crypto import keccak256

    return bytes([PREFIX]) + keccak256(pub64)[-20:]


def contract_address_for(seed: bytes) -> bytes:
    """Deterministic pseudo-address (used only for devnet-internal ids)."""
    return bytes([PREFIX]) + hashlib.sha256(seed).digest()[-20:]
