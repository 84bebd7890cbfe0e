import contextlib
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from common.tron import hex_to_tron_address, parse_token_amount, tron_address_to_hex

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


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", Decimal(1)), ("0.000001", Decimal("0.000001")), (25, Decimal(25))]
)
def test_amounts_parse(raw, expected):
    assert parse_token_amount(raw) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "0.0000001", "abc", "NaN", "Infinity", None, ""])
def test_bad_amounts_are_rejected(raw):
    with pytest.raises(ValidationError):
        parse_token_amount(raw)
