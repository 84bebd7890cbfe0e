"""TIP-191 message signatures as TronLink's `signMessageV2` makes them, checked byte for byte
against TronWeb's own test vector and against tronpy's message signing."""

import pytest
from tronpy.keys import PrivateKey

from pools.chain.messages import SignatureInvalid, message_signer, tip191_hash

# tronprotocol/tronweb test/testcases/src/sign-message.ts, case 'string("hello world")'.
TRONWEB_KEY = "0000000000000000000000000000000000000000000000000000000000000001"
TRONWEB_ADDRESS = "TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC"
TRONWEB_HASH = "cf02daeb2bea196ed5692322a66ed50080ce74ff8cb711199f1b04f3c13bc10d"
TRONWEB_SIGNATURE = (
    "0x0dc0b53d525e0103a6013061cf18e60cf158809149f2b8994a545af65a7004cb"
    "1eeaff560e801ab51b28df5d42549aa024c2aa7e9d34de1e01294b9afb5e6c7e1c"
)
# A fixed key for the tronpy cases (TronWeb's third test key).
KNOWN_KEY = PrivateKey(
    bytes.fromhex("59f40af46420081988724249fb743e7597c8ddc1cbbc0738b96ceb1dbb149373")
)
KNOWN_ADDRESS = "TBzEvowPVErmNWVegYMQcurDF3jgHU4VME"


def test_the_hash_is_tronwebs_tip191_hash():
    assert tip191_hash("hello world").hex() == TRONWEB_HASH


def test_tronwebs_signature_vector_recovers_its_address():
    assert message_signer(message="hello world", signature_hex=TRONWEB_SIGNATURE) == (
        TRONWEB_ADDRESS
    )
    key = PrivateKey(bytes.fromhex(TRONWEB_KEY))
    # tronpy signs the same bytes TronWeb does (RFC 6979 nonces: deterministic).
    assert "0x" + key.sign_msg(b"hello world").tronweb_hex() == TRONWEB_SIGNATURE


@pytest.mark.parametrize(
    "message",
    [
        "Energy Platform: link this wallet to Acme.\nNonce: 00ff",
        # Korean text: the length in the prefix counts UTF-8 bytes, not characters.
        "에너지 플랫폼: 이 지갑을 연결합니다.\nNonce: 00ff",
    ],
)
def test_tronpy_message_signatures_recover_the_signer(message):
    assert KNOWN_KEY.public_key.to_base58check_address() == KNOWN_ADDRESS
    signature = KNOWN_KEY.sign_msg(message.encode())
    # TronWeb's form (0x, v = 27/28) and tronpy's raw form (v = 0/1) both verify.
    assert message_signer(message=message, signature_hex="0x" + signature.tronweb_hex()) == (
        KNOWN_ADDRESS
    )
    assert message_signer(message=message, signature_hex=signature.hex()) == KNOWN_ADDRESS
    assert message_signer(message=message, signature_hex=signature.hex().upper()) == (KNOWN_ADDRESS)


def test_a_signature_over_another_message_recovers_another_address():
    signature = KNOWN_KEY.sign_msg(b"another message").tronweb_hex()
    assert message_signer(message="the challenge", signature_hex=signature) != KNOWN_ADDRESS


@pytest.mark.parametrize(
    "signature_hex",
    [
        "",
        "0x",
        "zz" * 65,
        "00" * 64,  # 64 bytes: no recovery id
        "00" * 66,
        "0x" + "11" * 64 + "05",  # recovery id neither 0/1 nor 27/28
        "00" * 64 + "1b",  # r = s = 0: no public key can be recovered
    ],
)
def test_malformed_signatures_are_refused(signature_hex):
    with pytest.raises(SignatureInvalid):
        message_signer(message="hello world", signature_hex=signature_hex)
