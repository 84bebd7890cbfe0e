"""USDT TRC20 through ``client.get_contract``: reads, warm/cold energy, burns, fee_limit, REVERT."""

from __future__ import annotations

import httpx
import pytest
from tronpy import Tron
from tronpy.exceptions import TvmError
from tronpy.keys import PrivateKey, to_hex_address

from tron_devnet.testing import RunningDevnet
from tron_devnet.tests.helpers import TRX, USDT, new_account, node_expiration, send

WARM = 64_285
COLD = 130_285
ENERGY_FEE = 100  # sun per energy (getEnergyFee)
TOTAL_ENERGY_LIMIT = 180_000_000_000
NETWORK_WEIGHT = 19_000_000_000


def transfer(client: Tron, sender: str, to: str, amount: int, fee_limit: int | None = None):
    contract = client.get_contract(USDT)
    builder = contract.functions.transfer(to, amount).with_owner(sender)
    return builder.fee_limit(fee_limit) if fee_limit is not None else builder


def test_contract_reads(client: Tron, devnet: RunningDevnet) -> None:
    _, holder = new_account(devnet)
    devnet.mint(holder, "12.5")
    contract = client.get_contract(USDT)
    assert contract.name == "TetherToken"
    assert contract.functions.decimals() == 6
    assert contract.functions.symbol() == "USDT"
    assert contract.functions.name() == "Tether USD"
    assert contract.functions.balanceOf(holder) == 12_500_000
    assert contract.functions.totalSupply() == 12_500_000
    info = client.get_contract_info(USDT)
    assert info["smart_contract"]["contract_address"] == USDT


def test_warm_transfer_burns_trx_and_logs_event(client: Tron, devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 100)
    _, receiver = new_account(devnet)
    devnet.mint(sender, 50)
    devnet.mint(receiver, 1)  # a holder: the balance slot is already non-zero
    info = send(devnet, transfer(client, sender, receiver, 20 * TRX, 30 * TRX), key)
    receipt = info["receipt"]
    assert receipt["result"] == "SUCCESS"
    assert receipt["energy_usage_total"] == WARM
    assert receipt["energy_fee"] == WARM * ENERGY_FEE
    assert "energy_usage" not in receipt  # no stake: everything burned
    assert info["fee"] == WARM * ENERGY_FEE + receipt.get("net_fee", 0)
    assert info["contract_address"] == USDT
    assert info["contractResult"] == ["00" * 31 + "01"]
    contract = client.get_contract(USDT)
    (event,) = list(contract.events.Transfer.process_receipt(info))
    assert event["args"] == {"from": sender, "to": receiver, "value": 20 * TRX}
    assert info["log"][0]["address"] == USDT
    raw = httpx.post(
        f"{devnet.url}/wallet/gettransactioninfobyid", json={"value": info["id"]}
    ).json()
    assert raw["log"][0]["address"] == to_hex_address(USDT)[2:]  # 20-byte form without 41
    assert raw["log"][0]["topics"][2] == "00" * 12 + to_hex_address(receiver)[2:]
    assert raw["contract_address"] == to_hex_address(USDT)
    assert contract.functions.balanceOf(receiver) == 21 * TRX
    assert contract.functions.balanceOf(sender) == 30 * TRX
    assert client.get_account_balance(sender) * TRX == 100 * TRX - WARM * ENERGY_FEE - receipt.get(
        "net_fee", 0
    )


def test_cold_transfer_costs_more(client: Tron, devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 100)
    _, receiver = new_account(devnet)
    devnet.mint(sender, 5)
    info = send(devnet, transfer(client, sender, receiver, TRX, 20 * TRX), key)
    assert info["receipt"]["energy_usage_total"] == COLD
    assert info["receipt"]["energy_fee"] == COLD * ENERGY_FEE
    # the receiver is a holder now: the next transfer is warm
    info = send(devnet, transfer(client, sender, receiver, TRX, 20 * TRX), key)
    assert info["receipt"]["energy_usage_total"] == WARM


def test_out_of_energy_under_default_fee_limit(client: Tron, devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 100)
    _, receiver = new_account(devnet)
    devnet.mint(sender, 5)
    txn = node_expiration(transfer(client, sender, receiver, TRX), devnet).build().sign(key)
    assert txn._raw_data["fee_limit"] == 10 * TRX  # tronpy's default
    ret = txn.broadcast()
    devnet.mine()
    info = ret.wait(timeout=5, interval=0.05)
    # VMActuator: min(0 + balance/100, 10 TRX/100) = 100,000 energy < 130,285: all of it is used
    assert info["result"] == "FAILED"
    assert info["receipt"]["result"] == "OUT_OF_ENERGY"
    assert info["receipt"]["energy_usage_total"] == 100_000
    assert info["receipt"]["energy_fee"] == 10 * TRX
    assert bytes.fromhex(info["resMessage"]).decode().startswith("Not enough energy")
    assert client.get_transaction(ret.txid)["ret"] == [{"contractRet": "OUT_OF_ENERGY"}]
    with pytest.raises(TvmError):
        ret.result(timeout=1)
    contract = client.get_contract(USDT)
    assert contract.functions.balanceOf(receiver) == 0
    assert contract.functions.balanceOf(sender) == 5 * TRX


def test_revert_charges_only_executed_energy(client: Tron, devnet: RunningDevnet) -> None:
    from tron_devnet.usdt import REVERT_ENERGY

    key, sender = new_account(devnet, 100)
    _, receiver = new_account(devnet)
    devnet.mint(sender, 1)
    info = send(devnet, transfer(client, sender, receiver, 5 * TRX, 30 * TRX), key)
    assert info["result"] == "FAILED"
    assert info["receipt"]["result"] == "REVERT"
    assert info["receipt"]["energy_usage_total"] == REVERT_ENERGY
    assert info["receipt"]["energy_fee"] == REVERT_ENERGY * ENERGY_FEE
    assert "log" not in info
    assert client.get_contract(USDT).functions.balanceOf(sender) == TRX


def test_stake_covers_energy_then_burn_for_the_rest(client: Tron, devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 20_000)
    _, receiver = new_account(devnet)
    devnet.mint(sender, 10)
    devnet.mint(receiver, 1)
    send(devnet, client.trx.freeze_balance(sender, 5_000 * TRX, "ENERGY"), key)
    limit = 5_000 * TOTAL_ENERGY_LIMIT // (NETWORK_WEIGHT + 5_000)  # 47,368 by hand
    assert client.get_account_resource(sender)["EnergyLimit"] == limit
    info = send(devnet, transfer(client, sender, receiver, TRX, 30 * TRX), key)
    receipt = info["receipt"]
    assert receipt["energy_usage_total"] == WARM
    assert receipt["energy_usage"] == limit
    assert receipt["energy_fee"] == (WARM - limit) * ENERGY_FEE
    assert client.get_energy(sender) == 0


def test_full_stake_pays_no_trx(client: Tron, devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 20_000)
    _, receiver = new_account(devnet)
    devnet.mint(sender, 10)
    devnet.mint(receiver, 1)
    send(devnet, client.trx.freeze_balance(sender, 10_000 * TRX, "ENERGY"), key)
    limit = 10_000 * TOTAL_ENERGY_LIMIT // (NETWORK_WEIGHT + 10_000)  # 94,736
    info = send(devnet, transfer(client, sender, receiver, TRX), key)  # default 10 TRX fee limit
    assert info["receipt"]["energy_usage"] == WARM
    assert "energy_fee" not in info["receipt"]
    assert client.get_account_resource(sender)["EnergyUsed"] == WARM
    assert client.get_energy(sender) == limit - WARM


def test_fee_limit_caps_even_staked_energy(client: Tron, devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 30_000)
    _, receiver = new_account(devnet)
    devnet.mint(sender, 10)
    send(devnet, client.trx.freeze_balance(sender, 20_000 * TRX, "ENERGY"), key)
    assert client.get_energy(sender) > COLD
    info = send(devnet, transfer(client, sender, receiver, TRX), key)  # 10 TRX → 100,000 energy
    assert info["receipt"]["result"] == "OUT_OF_ENERGY"
    assert info["receipt"]["energy_usage_total"] == 100_000
    assert info["receipt"]["energy_usage"] == 100_000
    assert "energy_fee" not in info["receipt"]


def test_estimate_and_constant_calls(client: Tron, devnet: RunningDevnet) -> None:
    _, sender = new_account(devnet, 10)
    _, holder = new_account(devnet)
    _, stranger = new_account(devnet)
    devnet.mint(sender, 10)
    devnet.mint(holder, 1)
    contract = client.get_contract(USDT)
    param_warm = contract.functions.transfer._prepare_parameter(holder, TRX)
    param_cold = contract.functions.transfer._prepare_parameter(stranger, TRX)
    sel = "transfer(address,uint256)"
    assert client.get_estimated_energy(sender, USDT, sel, param_warm) == WARM
    assert client.get_estimated_energy(sender, USDT, sel, param_cold) == COLD
    ret = client.trigger_constant_contract(sender, USDT, sel, param_cold)
    assert ret["energy_used"] == COLD
    assert ret["constant_result"] == ["00" * 31 + "01"]
    assert contract.functions.balanceOf(holder) == TRX  # constant calls change nothing
    with pytest.raises(TvmError, match="REVERT"):
        client.trigger_constant_contract(
            stranger, USDT, sel, contract.functions.transfer._prepare_parameter(holder, TRX)
        )


def test_triggersmartcontract_builder(client: Tron, devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 100)
    _, receiver = new_account(devnet)
    devnet.mint(sender, 3)
    contract = client.get_contract(USDT)
    body = httpx.post(
        f"{devnet.url}/wallet/triggersmartcontract",
        json={
            "owner_address": sender,
            "contract_address": USDT,
            "function_selector": "transfer(address,uint256)",
            "parameter": contract.functions.transfer._prepare_parameter(receiver, TRX),
            "fee_limit": 20 * TRX,
            "visible": True,
        },
    ).json()
    assert body["result"] == {"result": True}
    tx = body["transaction"]
    assert tx["raw_data"]["fee_limit"] == 20 * TRX
    from tronpy.tron import Transaction

    txn = Transaction(tx["raw_data"], client=client, txid=tx["txID"], permission=None)
    ret = txn.sign(key).broadcast()
    devnet.mine()
    assert ret.wait(timeout=5, interval=0.05)["receipt"]["energy_usage_total"] == COLD
    missing = httpx.post(
        f"{devnet.url}/wallet/triggersmartcontract",
        json={"owner_address": sender, "contract_address": sender, "visible": True},
    ).json()
    assert missing["result"]["code"] == "CONTRACT_VALIDATE_ERROR"


def test_unknown_contract(client: Tron, devnet: RunningDevnet, genesis_key: PrivateKey) -> None:
    body = httpx.post(
        f"{devnet.url}/wallet/getcontract", json={"value": devnet.genesis_address, "visible": True}
    ).json()
    assert body == {}
