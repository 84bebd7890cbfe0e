"""Signed messages (TIP-191): who signed a text, as TronLink's `signMessageV2` signs it.

TronWeb's `signMessageV2` (and tronpy's `PrivateKey.sign_msg`) sign

    keccak256(b"\\x19TRON Signed Message:\\n" + str(len(message_bytes)) + message_bytes)

where `message_bytes` is the message's UTF-8 encoding and its length is counted in bytes.
The signature is 65 bytes r‖s‖v, sent as hex (TronWeb: `0x`-prefixed, v = 27 or 28;
tronpy's `Signature.hex()`: v = 0 or 1). The signer's public key is recovered from the
signature and the hash, and its TRON address is 0x41 followed by the last 20 bytes of the
keccak256 of the 64-byte public key (`pools/tests/test_wallet_signatures.py` pins a
signature vector from TronWeb's own tests).
"""

from __future__ import annotations

import re

from tronpy.exceptions import BadSignature
from tronpy.keys import Signature, keccak256

TRON_MESSAGE_PREFIX = b"\x19TRON Signed Message:\n"
SIGNATURE_HEX = re.compile(r"^(0x)?[0-9a-fA-F]{130}$")
# Recovery ids as TronWeb (27, 28) and as raw libsecp256k1 / tronpy (0, 1) write them.
RECOVERY_IDS = frozenset({0, 1, 27, 28})


class SignatureInvalid(Exception):
    """The signature is not 65 bytes of hex r‖s‖v from which a public key can be recovered."""


def tip191_hash(message: str) -> bytes:
    """The 32-byte digest TronLink signs for the text `message` (TIP-191)."""
    data = message.encode("utf-8")
    digest: bytes = keccak256(TRON_MESSAGE_PREFIX + str(len(data)).encode("ascii") + data)
    return digest


def parse_signature(signature_hex: str) -> bytes:
    """The 65 signature bytes of `signature_hex`, or `SignatureInvalid`."""
    if not SIGNATURE_HEX.match(signature_hex):
        raise SignatureInvalid("a signature is 65 bytes written as 130 hex digits")
    raw = bytes.fromhex(signature_hex.removeprefix("0x"))
    if raw[64] not in RECOVERY_IDS:
        raise SignatureInvalid("the signature's recovery id must be 0, 1, 27 or 28")
    return raw


def message_signer(*, message: str, signature_hex: str) -> str:
    """The base58 address whose key made `signature_hex` over `message` (TIP-191).

    Any well-formed signature recovers some address: a signature over another message, or
    by another key, recovers an address other than the one expected, so callers compare
    the result with the address they expect. Raises `SignatureInvalid` when no public key
    can be recovered at all.
    """
    raw = parse_signature(signature_hex)
    try:
        public_key = Signature(raw).recover_public_key_from_msg_hash(tip191_hash(message))
    except BadSignature as exc:
        raise SignatureInvalid("no public key can be recovered from this signature") from exc
    return str(public_key.to_base58check_address())
