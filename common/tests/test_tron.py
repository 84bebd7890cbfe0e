import contextlib

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from common.tron import hex_to_tron_address, tron_address_to_hex

USDT_CONTRACT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def test_known_address_round_trips():
    hex_form = tron_address_to_hex(USDT_CONTRACT)
    assert hex_form == "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
    assert hex_to_tron_address(hex_form) == USDT_CONTRACT


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "T",
        None,
        42,
        USDT_CONTRACT[:-1] + "u",  # checksum broken
        USDT_CONTRACT.lower(),
        "0x" + "ab" * 20,
        "41a614f803b6fd780986a42c78ec9c7f77e6ded13c",
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6O",  # 'O' is not base58
        "1" * 34,
    ],
)
def test_bad_addresses_raise_validation_error(bad):
    with pytest.raises(ValidationError):
        tron_address_to_hex(bad)


@given(st.one_of(st.text(max_size=60), st.binary(max_size=40), st.integers(), st.none()))
def test_any_input_gives_an_address_or_a_validation_error(value):
    with contextlib.suppress(ValidationError):
        tron_address_to_hex(value)
