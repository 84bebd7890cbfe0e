"""Account reads, blocks, node info and chain parameters through tronpy and plain HTTP."""

from __future__ import annotations

import httpx
import pytest
from tronpy import Tron
from tronpy.exceptions import AddressNotFound, BlockNotFound, TransactionNotFound
from tronpy.keys import PrivateKey, to_hex_address
from tronpy.providers import HTTPProvider

from tron_devnet.testing import RunningDevnet, devnet_server
from tron_devnet.tests.helpers import TRX, new_account, send


def test_get_account_and_balance(client: Tron, devnet: RunningDevnet) -> None:
    _, addr = new_account(devnet, 25)
    account = client.get_account(addr)
    assert account["address"] == addr
    assert account["balance"] == 25 * TRX
    assert account["create_time"] == devnet.head_timestamp()
    assert account["frozenV2"] == [{}, {"type": "ENERGY"}, {"type": "TRON_POWER"}]
    assert "unfrozenV2" not in account  # proto3: empty repeated fields are omitted
    assert client.get_account_balance(addr) == 25


def test_unknown_account_is_empty_object(client: Tron, devnet: RunningDevnet) -> None:
    _, addr = new_account(devnet)
    with pytest.raises(AddressNotFound):
        client.get_account(addr)
    with pytest.raises(AddressNotFound):
        client.get_account_resource(addr)
    resp = httpx.post(f"{devnet.url}/wallet/getaccount", json={"address": addr, "visible": True})
    assert resp.status_code == 200
    assert resp.json() == {}


def test_account_resource_defaults(client: Tron, devnet: RunningDevnet) -> None:
    _, addr = new_account(devnet, 1)
    res = client.get_account_resource(addr)
    assert res["freeNetLimit"] == 600
    assert res["TotalEnergyLimit"] == 180_000_000_000
    assert res["TotalEnergyWeight"] == 19_000_000_000
    assert "EnergyLimit" not in res
    assert "EnergyUsed" not in res
    assert client.get_energy(addr) == 0
    assert client.get_bandwidth(addr) == 600


def test_hex_addresses_when_not_visible(devnet: RunningDevnet) -> None:
    _, addr = new_account(devnet, 3)
    hex_addr = to_hex_address(addr)
    body = httpx.post(f"{devnet.url}/wallet/getaccount", json={"address": hex_addr}).json()
    assert body["address"] == hex_addr
    assert body["owner_permission"]["keys"][0]["address"] == hex_addr
    # base58 input with visible=true answers base58
    body = httpx.post(
        f"{devnet.url}/wallet/getaccount", json={"address": addr, "visible": True}
    ).json()
    assert body["address"] == addr


def test_invalid_address_is_java_error(devnet: RunningDevnet) -> None:
    body = httpx.post(
        f"{devnet.url}/wallet/getaccount", json={"address": "nonsense", "visible": True}
    ).json()
    assert body["Error"].startswith("class ")


def test_blocks_and_node_info(client: Tron, devnet: RunningDevnet) -> None:
    devnet.mine(3)
    assert client.get_latest_block_number() == 3
    block = client.get_latest_block()
    assert block["block_header"]["raw_data"]["number"] == 3
    assert block["blockID"][:16] == f"{3:016x}"
    parent = client.get_block(2)
    assert block["block_header"]["raw_data"]["parentHash"] == parent["blockID"]
    ts = block["block_header"]["raw_data"]["timestamp"]
    assert ts - parent["block_header"]["raw_data"]["timestamp"] == 3000
    assert client.get_block(block["blockID"])["blockID"] == block["blockID"]
    assert "transactions" not in block  # empty block
    with pytest.raises(BlockNotFound):
        client.get_block(99)
    assert client.get_latest_block_id() == block["blockID"]
    genesis = client.get_block(0)
    assert "number" not in genesis["block_header"]["raw_data"]


def test_advance_produces_blocks_lazily(client: Tron, devnet: RunningDevnet) -> None:
    before = devnet.state()
    after = devnet.advance(14 * 24 * 3600)
    assert after["head_block"] - before["head_block"] == 14 * 24 * 3600 // 3
    assert after["head_block_timestamp"] - before["devnet_time_ms"] >= 14 * 24 * 3600 * 1000 - 3000
    mid = client.get_block(before["head_block"] + 1000)
    nxt = client.get_block(before["head_block"] + 1001)
    assert (
        nxt["block_header"]["raw_data"]["timestamp"] - mid["block_header"]["raw_data"]["timestamp"]
        == 3000
    )
    assert nxt["block_header"]["raw_data"]["parentHash"] == mid["blockID"]


def test_chain_parameters(client: Tron, devnet: RunningDevnet) -> None:
    params = {p["key"]: p.get("value", 0) for p in client.get_chain_parameters()}
    assert params["getEnergyFee"] == 100
    assert params["getTransactionFee"] == 1000
    assert params["getFreeNetLimit"] == 600
    assert params["getTotalEnergyLimit"] == 180_000_000_000
    assert params["getUnfreezeDelayDays"] == 14
    assert params["getMaxFeeLimit"] == 15_000_000_000
    raw = httpx.post(f"{devnet.url}/wallet/getchainparameters", json={}).json()
    assert {"key": "getAllowPBFT"} in raw["chainParameter"]  # zero values carry no "value"
    devnet.params(getEnergyFee=210)
    params = {p["key"]: p.get("value", 0) for p in client.get_chain_parameters()}
    assert params["getEnergyFee"] == 210


def test_solidity_lag() -> None:
    with devnet_server(solidity_lag=5) as devnet:
        tron = Tron(HTTPProvider(devnet.url + "/"))
        key = PrivateKey(bytes.fromhex(devnet.genesis_private_key))
        devnet.mine(10)
        assert tron.get_latest_block_number() == 10
        assert tron.get_latest_solid_block_number() == 5
        solid = httpx.post(f"{devnet.url}/walletsolidity/getnowblock", json={}).json()
        assert solid["block_header"]["raw_data"]["number"] == 5
        _, to = new_account(devnet)
        info = send(devnet, tron.trx.transfer(devnet.genesis_address, to, TRX), key)
        assert info["blockNumber"] == 11
        with pytest.raises(TransactionNotFound):
            tron.get_solid_transaction_info(info["id"])
        devnet.mine(4)
        with pytest.raises(TransactionNotFound):
            tron.get_solid_transaction_info(info["id"])
        devnet.mine(1)
        assert tron.get_solid_transaction_info(info["id"])["blockNumber"] == 11
