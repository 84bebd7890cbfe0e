"""tronpy's AsyncTron against the devnet, and property tests of the protobuf codec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tronpy import AsyncTron
from tronpy.providers.async_http import AsyncHTTPProvider

from tron_devnet import protobuf
from tron_devnet.testing import RunningDevnet
from tron_devnet.tests.helpers import TRX, USDT, new_account


@pytest.mark.asyncio
async def test_async_tron_transfer_and_usdt(devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 100)
    _, to = new_account(devnet, 1)
    devnet.mint(sender, 3)
    async with AsyncTron(AsyncHTTPProvider(devnet.url + "/")) as client:
        assert (await client.get_account(sender))["balance"] == 100 * TRX
        builder = client.trx.transfer(sender, to, 2 * TRX)
        txn = await builder.build()
        ret = await txn.sign(key).broadcast()
        devnet.mine()
        info = await ret.wait(timeout=5, interval=0.05)
        assert info["receipt"]["net_usage"] > 0
        assert await client.get_account_balance(to) == 3
        contract = await client.get_contract(USDT)
        assert await contract.functions.balanceOf(sender) == 3 * TRX


addresses_21 = st.binary(min_size=20, max_size=20).map(lambda b: b"\x41" + b)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(owner=addresses_21, to=addresses_21, amount=int64, ts=int64, exp=int64)
def test_transfer_roundtrip(owner: bytes, to: bytes, amount: int, ts: int, exp: int) -> None:
    raw_data = {
        "contract": [
            {
                "parameter": {
                    "value": {
                        "owner_address": owner.hex(),
                        "to_address": to.hex(),
                        "amount": amount,
                    },
                    "type_url": "type.googleapis.com/protocol.TransferContract",
                },
                "type": "TransferContract",
            }
        ],
        "ref_block_bytes": "abcd",
        "ref_block_hash": "0011223344556677",
        "expiration": exp,
        "timestamp": ts,
    }
    raw = protobuf.encode_raw(raw_data)
    decoded, _ = protobuf.decode_transaction(protobuf.encode_transaction(raw, []))
    assert protobuf.encode_raw(decoded) == raw
    value = decoded["contract"][0]["parameter"]["value"]
    assert value.get("amount", 0) == amount
    assert decoded.get("timestamp", 0) == ts


@given(
    owner=addresses_21,
    receiver=addresses_21,
    balance=st.integers(min_value=0, max_value=2**62),
    lock=st.booleans(),
    period=st.integers(min_value=0, max_value=10**7),
    resource=st.sampled_from(["BANDWIDTH", "ENERGY"]),
)
def test_delegate_roundtrip(
    owner: bytes, receiver: bytes, balance: int, lock: bool, period: int, resource: str
) -> None:
    value = {
        "owner_address": owner.hex(),
        "receiver_address": receiver.hex(),
        "balance": balance,
        "resource": resource,
        "lock": lock,
        "lock_period": period,
    }
    encoded = protobuf.encode_contract_value("DelegateResourceContract", value)
    decoded = protobuf.decode_contract_value("DelegateResourceContract", encoded)
    expected = {k: v for k, v in value.items() if v and v != "BANDWIDTH"}
    assert decoded == expected
