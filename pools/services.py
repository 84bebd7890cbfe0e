"""Writes about pools. Chain-derived numbers change only through sync; see SPEC §6.1."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from tronpy.keys import PrivateKey

from pools.chain.signers import address_of, encrypt_private_key, rotate_ciphertext
from pools.models import EnergyPool, SigningKey


def pool_update_settings(
    *,
    pool: EnergyPool,
    label: str | None = None,
    thresholds: dict[str, Decimal | None] | None = None,
) -> EnergyPool:
    """Change a pool's label and threshold overrides (None clears an override).

    Raises `ValidationError` if the effective thresholds would not be ordered
    warning ≤ critical ≤ emergency.
    """
    fields: list[str] = []
    if label is not None:
        pool.label = label
        fields.append("label")
    for name, value in (thresholds or {}).items():
        setattr(pool, name, value)
        fields.append(name)
    warning, critical, emergency = pool.effective_thresholds()
    if not warning <= critical <= emergency:
        raise ValidationError(
            {"non_field_errors": ["Thresholds must satisfy warning ≤ critical ≤ emergency."]}
        )
    if fields:
        pool.save(update_fields=[*fields, "updated_at"])
    return pool


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
    raw = PrivateKey.random().to_bytes()
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
