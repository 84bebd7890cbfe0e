"""Private keys: encrypted at rest, rotatable, never shown in errors, logs or the admin."""

import logging
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import call_command
from tronpy.keys import PrivateKey, Signature

from pools.chain.signers import SignerError
from pools.models import SigningKey
from pools.selectors import signer_for_address
from pools.services import signing_key_generate, signing_key_import, signing_keys_rotate

pytestmark = pytest.mark.django_db


def test_imported_key_is_stored_encrypted_and_signs(caplog):
    key = PrivateKey.random()
    caplog.set_level(logging.DEBUG)
    row = signing_key_import(private_key_hex=key.hex())
    assert row.address == key.public_key.to_base58check_address()
    assert key.hex() not in row.ciphertext
    assert key.hex() not in str(row) + repr(row)
    signer = signer_for_address(address=row.address)
    digest = bytes(range(32))
    signature = signer.sign_digest(digest)
    recovered = Signature(signature).recover_public_key_from_msg_hash(digest)
    assert recovered.to_base58check_address() == row.address
    assert key.hex() not in caplog.text


@pytest.mark.parametrize("bad", ["", "zz", "00" * 31, "00" * 32, "ff" * 32, "12" * 40])
def test_bad_keys_are_refused_without_echoing_them(bad):
    with pytest.raises(ValidationError) as info:
        signing_key_import(private_key_hex=bad)
    if bad:
        assert bad not in str(info.value)
    assert SigningKey.objects.count() == 0


def test_same_key_twice_is_refused():
    key = PrivateKey.random().hex()
    signing_key_import(private_key_hex=key)
    with pytest.raises(ValidationError):
        signing_key_import(private_key_hex=key)


def test_rotation_re_encrypts_under_the_new_first_key(settings):
    row = signing_key_generate()
    old_keys = list(settings.KEY_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.KEY_ENCRYPTION_KEYS = [new_key, *old_keys]
    assert signing_keys_rotate() == 1
    assert signing_keys_rotate() == 0  # idempotent
    call_command("rotate_signing_keys", stdout=StringIO())
    settings.KEY_ENCRYPTION_KEYS = [new_key]  # the old key can now be retired
    signer = signer_for_address(address=row.address)
    assert len(signer.sign_digest(b"\x01" * 32)) == 65


def test_wrong_encryption_key_is_a_clean_error(settings):
    row = signing_key_generate()
    settings.KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    signer = signer_for_address(address=row.address)
    with pytest.raises(SignerError, match=row.address):
        signer.sign_digest(b"\x01" * 32)


def test_unknown_address_has_no_signer():
    assert signer_for_address(address="TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t") is None
