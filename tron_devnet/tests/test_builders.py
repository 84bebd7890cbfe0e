"""java-tron builder endpoints (raw_data/raw_data_hex/txID) signed by tronpy and broadcast."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from tronpy import Tron
from tronpy.keys import PrivateKey
from tronpy.tron import Transaction

from tron_devnet.testing import RunningDevnet
from tron_devnet.tests.helpers import TRX, new_account, send


def build(devnet: RunningDevnet, endpoint: str, **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = httpx.post(
        f"{devnet.url}/wallet/{endpoint}", json={**body, "visible": True}
    ).json()
    assert "Error" not in result, result
    assert hashlib.sha256(bytes.fromhex(result["raw_data_hex"])).hexdigest() == result["txID"]
    return result


def sign_and_send(
    client: Tron, devnet: RunningDevnet, built: dict[str, Any], key: PrivateKey
) -> dict[str, Any]:
    txn = Transaction(built["raw_data"], client=client, txid=built["txID"], permission=None)
    ret = txn.sign(key).broadcast()
    assert ret["result"] is True, ret
    devnet.mine()
    info: dict[str, Any] = ret.wait(timeout=5, interval=0.05)
    return info


def test_every_stake_builder(client: Tron, devnet: RunningDevnet) -> None:
    key, owner = new_account(devnet, 5_000)
    _, receiver = new_account(devnet, 1)
    freeze = build(
        devnet,
        "freezebalancev2",
        owner_address=owner,
        frozen_balance=2_000 * TRX,
        resource="ENERGY",
    )
    assert freeze["raw_data"]["contract"][0]["type"] == "FreezeBalanceV2Contract"
    sign_and_send(client, devnet, freeze, key)
    delegate = build(
        devnet,
        "delegateresource",
        owner_address=owner,
        receiver_address=receiver,
        balance=500 * TRX,
        resource="ENERGY",
    )
    sign_and_send(client, devnet, delegate, key)
    assert client.get_account_resource(receiver)["EnergyLimit"] > 0
    undelegate = build(
        devnet,
        "undelegateresource",
        owner_address=owner,
        receiver_address=receiver,
        balance=500 * TRX,
        resource="ENERGY",
    )
    sign_and_send(client, devnet, undelegate, key)
    unfreeze = build(
        devnet,
        "unfreezebalancev2",
        owner_address=owner,
        unfreeze_balance=300 * TRX,
        resource="ENERGY",
    )
    sign_and_send(client, devnet, unfreeze, key)
    cancel = build(devnet, "cancelallunfreezev2", owner_address=owner)
    info = sign_and_send(client, devnet, cancel, key)
    assert {"key": "ENERGY", "value": 300 * TRX} in info["cancel_unfreezeV2_amount"]
    assert client.get_account(owner)["frozenV2"][1]["amount"] == 2_000 * TRX
    sign_and_send(
        client,
        devnet,
        build(
            devnet,
            "unfreezebalancev2",
            owner_address=owner,
            unfreeze_balance=100 * TRX,
            resource="ENERGY",
        ),
        key,
    )
    devnet.advance(14 * 24 * 3600 + 10)
    withdraw = build(devnet, "withdrawexpireunfreeze", owner_address=owner)
    info = sign_and_send(client, devnet, withdraw, key)
    assert info["withdraw_expire_amount"] == 100 * TRX


def test_builder_validation_errors(devnet: RunningDevnet) -> None:
    _, owner = new_account(devnet, 10)
    body = httpx.post(
        f"{devnet.url}/wallet/withdrawexpireunfreeze",
        json={"owner_address": owner, "visible": True},
    ).json()
    assert body == {
        "Error": "class org.tron.core.exception.ContractValidateException : "
        "no unFreeze balance to withdraw "
    }
    body = httpx.post(
        f"{devnet.url}/wallet/unfreezebalancev2",
        json={
            "owner_address": owner,
            "unfreeze_balance": TRX,
            "resource": "ENERGY",
            "visible": True,
        },
    ).json()
    assert body["Error"].endswith("no frozenBalance(Energy)")
    body = httpx.post(
        f"{devnet.url}/wallet/undelegateresource",
        json={
            "owner_address": owner,
            "receiver_address": devnet.genesis_address,
            "balance": TRX,
            "resource": "ENERGY",
            "visible": True,
        },
    ).json()
    assert body["Error"].endswith("delegated Resource does not exist")


def test_hex_builder_answers_hex(devnet: RunningDevnet) -> None:
    from tronpy.keys import to_hex_address

    _, owner = new_account(devnet, 10)
    body = httpx.post(
        f"{devnet.url}/wallet/freezebalancev2",
        json={"owner_address": to_hex_address(owner), "frozen_balance": TRX, "resource": "ENERGY"},
    ).json()
    assert body["visible"] is False
    value = body["raw_data"]["contract"][0]["parameter"]["value"]
    assert value == {
        "owner_address": to_hex_address(owner),
        "frozen_balance": TRX,
        "resource": "ENERGY",
    }


def test_staked_bandwidth_is_used_first(client: Tron, devnet: RunningDevnet) -> None:
    key, owner = new_account(devnet, 10_000)
    _, to = new_account(devnet, 1)
    send(devnet, client.trx.freeze_balance(owner, 5_000 * TRX, "BANDWIDTH"), key)
    free_before = client.get_account_resource(owner).get("freeNetUsed", 0)
    info = send(devnet, client.trx.transfer(owner, to, TRX), key)
    size = info["receipt"]["net_usage"]
    res = client.get_account_resource(owner)
    assert res["NetUsed"] == size
    assert abs(res.get("freeNetUsed", 0) - free_before) <= 1  # only recovery, no new free usage
    # creating an account with staked bandwidth: no 0.1 TRX burn, only the 1 TRX creation fee
    _, fresh = new_account(devnet)
    info = send(devnet, client.trx.transfer(owner, fresh, TRX), key)
    assert info["fee"] == 1_000_000
    assert "net_fee" not in info["receipt"]


def test_createaccount(client: Tron, devnet: RunningDevnet) -> None:
    key, owner = new_account(devnet, 10)
    _, fresh = new_account(devnet)
    built = build(devnet, "createaccount", owner_address=owner, account_address=fresh)
    info = sign_and_send(client, devnet, built, key)
    assert info["fee"] == 1_100_000
    assert client.get_account(fresh)["address"] == fresh
