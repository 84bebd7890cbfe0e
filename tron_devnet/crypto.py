"""Hashing and secp256k1 helpers (coincurve + pycryptodome, both tronpy dependencies)."""

from __future__ import annotations

import hashlib

from coincurve import PrivateKey, PublicKey
from Crypto.Hash import keccak


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def keccak256(data: bytes) -> bytes:
    h = keccak.new(digest_bits=256)
    h.update(data)
    return h.digest()


def recover_address(msg_hash: bytes, signature: bytes) -> bytes | None:
    """Address (21 bytes) that produced a 65-byte ``r||s||v`` signature over ``msg_hash``.

    java-tron accepts v in {0, 1} (tronpy) and {27, 28} (TronWeb); anything unrecoverable → None.
    """
    if len(signature) != 65 or len(msg_hash) != 32:
        return None
    v = signature[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1):
        return None
    try:
        pub = PublicKey.from_signature_and_message(
            signature[:64] + bytes([v]), msg_hash, hasher=None
        )
    except Exception:
        return None
    from tron_devnet.addresses import from_public_key

    return from_public_key(pub.format(compressed=False)[1:])


def address_of_private_key(priv_hex: str) -> bytes:
    from tron_devnet.addresses import from_public_key

    key = PrivateKey(bytes.fromhex(priv_hex))
    return from_public_key(key.public_key.format(compressed=False)[1:])


def sign(msg_hash: bytes, priv_hex: str) -> bytes:
    """65-byte recoverable signature as tronpy produces it (v in {0, 1})."""
    return PrivateKey(bytes.fromhex(priv_hex)).sign_recoverable(msg_hash, hasher=None)
