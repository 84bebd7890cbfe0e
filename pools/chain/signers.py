"""Who signs transactions. The platform depends on the `Signer` protocol only.

`LocalSigner` keeps the private key encrypted at rest (Fernet, keys from
`KEY_ENCRYPTION_KEYS`; the first encrypts, all decrypt, so keys rotate by prepending a new
one and re-encrypting). The plain key exists only inside `sign_digest` and never in a
repr, a log line, an exception or an admin page.
"""

from __future__ import annotations

from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from tronpy.keys import PrivateKey


class Signer(Protocol):
    """Signs 32-byte transaction digests for one address."""

    @property
    def address(self) -> str: ...

    def sign_digest(self, digest: bytes) -> bytes:
        """65-byte secp256k1 signature r‖s‖v of `digest` (a txID)."""
        ...


class SignerError(Exception):
    """The key could not be used (wrong encryption keys, corrupt record). Never holds key bytes."""


def key_cipher() -> MultiFernet:
    keys = settings.KEY_ENCRYPTION_KEYS
    if not keys:
        raise SignerError("KEY_ENCRYPTION_KEYS is empty")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def rotate_ciphertext(ciphertext: str) -> str | None:
    """The ciphertext re-encrypted under the current (first) key, or None if it already is."""
    primary = Fernet(settings.KEY_ENCRYPTION_KEYS[0].encode())
    try:
        primary.decrypt(ciphertext.encode())
    except InvalidToken:
        return key_cipher().rotate(ciphertext.encode()).decode()
    return None


def encrypt_private_key(private_key: bytes) -> str:
    return key_cipher().encrypt(private_key.hex().encode()).decode()


def address_of(private_key: bytes) -> str:
    return str(PrivateKey(private_key).public_key.to_base58check_address())


def generate_private_key() -> bytes:
    """A new random secp256k1 private key (32 bytes)."""
    return bytes(PrivateKey.random().to_bytes())


class LocalSigner:
    """Signs with a key decrypted from its ciphertext at the moment of signing."""

    __slots__ = ("_address", "_ciphertext")

    def __init__(self, *, address: str, ciphertext: str) -> None:
        self._address = address
        self._ciphertext = ciphertext

    def __repr__(self) -> str:
        return f"LocalSigner(address={self._address!r})"

    @property
    def address(self) -> str:
        return self._address

    def sign_digest(self, digest: bytes) -> bytes:
        try:
            key_hex = key_cipher().decrypt(self._ciphertext.encode())
        except InvalidToken:
            raise SignerError(f"cannot decrypt the key of {self._address}") from None
        key = PrivateKey(bytes.fromhex(key_hex.decode()))
        if key.public_key.to_base58check_address() != self._address:
            raise SignerError(f"the stored key does not belong to {self._address}")
        signature: bytes = key.sign_msg_hash(digest).to_bytes()
        return signature
