"""TRON address and amount primitives that need no network and know no app.

TRON addresses are base58check: 21 bytes (0x41 then a 20-byte account id) plus a 4-byte
checksum, the first two of double SHA-256. Anything else is rejected with a plain
`ValidationError`, whatever the input, so callers never see `ValueError` or `IndexError`.
"""

from __future__ import annotations

import hashlib

import base58
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

ADDRESS_PREFIX = 0x41
# Units, once: USDT (TRC-20) has 6 decimals; TRX is counted in sun, a millionth.
USDT_DECIMALS = 6
USDT_UNIT = 10**USDT_DECIMALS  # base units per USDT
SUN_PER_TRX = 1_000_000


def tron_address_to_hex(address: object) -> str:
    """Return the 42-hex-digit form of a base58 TRON address, or raise `ValidationError`."""
    if not isinstance(address, str) or len(address) != 34 or not address.startswith("T"):
        raise ValidationError(_("Enter a valid TRON address."), code="invalid_address")
    try:
        raw = base58.b58decode(address)
    except ValueError:
        raise ValidationError(_("Enter a valid TRON address."), code="invalid_address") from None
    if len(raw) != 25 or raw[0] != ADDRESS_PREFIX:
        raise ValidationError(_("Enter a valid TRON address."), code="invalid_address")
    payload, checksum = raw[:21], raw[21:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        raise ValidationError(_("The TRON address checksum is wrong."), code="bad_checksum")
    return payload.hex()


def validate_tron_address(address: object) -> None:
    """Django validator form of `tron_address_to_hex`."""
    tron_address_to_hex(address)


def hex_to_tron_address(hex_address: str) -> str:
    """Base58 form of a `41…` hex address (42 hex digits)."""
    payload = bytes.fromhex(hex_address)
    if len(payload) != 21 or payload[0] != ADDRESS_PREFIX:
        raise ValidationError(_("Enter a valid TRON address."), code="invalid_address")
    checksum = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return base58.b58encode(payload + checksum).decode()
