"""Custodial keys: import, generate, rotate. Keys are stored only encrypted."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from pools.chain.signers import (
    address_of,
    encrypt_private_key,
    generate_private_key,
    rotate_ciphertext,
)
from pools.models import SigningKey


def signing_key_import(*, private_key_hex: str) -> SigningKey:
    """Store a private key encrypted; returns the row for its address.

    Raises `ValidationError` for a malformed key or one already stored. The key never
    appears in the error.
    """
    try:
        raw = bytes.fromhex(private_key_hex.strip())
        address = address_of(raw)
    except (ValueError, TypeError):
        raise ValidationError({"private_key": ["Not a valid secp256k1 private key."]}) from None
    if len(raw) != 32:
        raise ValidationError({"private_key": ["A private key is 32 bytes (64 hex digits)."]})
    if SigningKey.objects.filter(address=address).exists():
        raise ValidationError({"private_key": ["This key is already stored."]})
    return SigningKey.objects.create(address=address, ciphertext=encrypt_private_key(raw))


def signing_key_generate() -> SigningKey:
    """A new random key, stored encrypted."""
    raw = generate_private_key()
    return SigningKey.objects.create(address=address_of(raw), ciphertext=encrypt_private_key(raw))


@transaction.atomic
def signing_keys_rotate() -> int:
    """Re-encrypt every stored key with the first of `KEY_ENCRYPTION_KEYS`. Idempotent."""
    rotated = 0
    for key in SigningKey.objects.select_for_update().order_by("pk"):
        ciphertext = rotate_ciphertext(key.ciphertext)
        if ciphertext is not None:
            key.ciphertext = ciphertext
            key.save(update_fields=["ciphertext", "updated_at"])
            rotated += 1
    return rotated
