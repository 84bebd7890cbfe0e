"""TRX transfers (fees, bandwidth) and every broadcast rejection, through tronpy 0.6.2."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import httpx
import pytest
from tronpy import Tron
from tronpy.exceptions import (
    BadSignature,
    TaposError,
    TransactionError,
    UnknownError,
    ValidationError,
)
from tronpy.keys import PrivateKey
from tronpy.tron import Transaction

from tron_devnet.testing import RunningDevnet
from tron_devnet.tests.helpers import TRX, new_account, node_expiration, send


def charged_size(raw_data_hex: str, signatures: int = 1) -> int:
    """Bandwidth of a tx by hand (tron.md §1.6): serialized Transaction without ret + 64."""
    raw_len = len(raw_data_hex) // 2
    length_prefix = 1 if raw_len < 128 else 2
    return 1 + length_prefix + raw_len + signatures * (1 + 1 + 65) + 64


def test_transfer_to_new_account_pays_creation_fees(
    client: Tron, devnet: RunningDevnet, genesis_key: PrivateKey
) -> None:
    _, to = new_account(devnet)
    before = client.get_account_balance(devnet.genesis_address)
    info = send(devnet, client.trx.transfer(devnet.genesis_address, to, 5 * TRX), genesis_key)
    # 1 TRX getCreateNewAccountFeeInSystemContract + 0.1 TRX getCreateAccountFee (no stake)
    assert info["fee"] == 1_100_000
    assert info["receipt"] == {"net_fee": 100_000}
    assert "result" not in info  # success is the proto default
    assert client.get_account_balance(to) == 5
    assert before - client.get_account_balance(devnet.genesis_address) == Decimal("6.1")
    tx = client.get_transaction(info["id"])
    assert tx["ret"] == [{"contractRet": "SUCCESS"}]
    assert tx["raw_data"]["contract"][0]["parameter"]["value"]["to_address"] == to
    assert hashlib.sha256(bytes.fromhex(tx["raw_data_hex"])).hexdigest() == info["id"]
    assert client.get_account(to)["create_time"] == info["blockTimeStamp"]


def test_free_bandwidth_then_burn(client: Tron, devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 100)
    _, receiver = new_account(devnet, 1)
    sizes = []
    infos = []
    for _ in range(3):
        info = send(devnet, client.trx.transfer(sender, receiver, TRX), key)
        sizes.append(charged_size(client.get_transaction(info["id"])["raw_data_hex"]))
        infos.append(info)
    # two transfers fit into the free 600 bytes, the third does not: all of it is burned
    assert sizes[0] + sizes[1] <= 600 < sizes[0] + sizes[1] + sizes[2]
    assert infos[0]["receipt"] == {"net_usage": sizes[0]}
    assert infos[1]["receipt"] == {"net_usage": sizes[1]}
    assert infos[2]["receipt"] == {"net_fee": sizes[2] * 1000}
    assert infos[2]["fee"] == sizes[2] * 1000
    resource = client.get_account_resource(sender)
    assert abs(resource["freeNetUsed"] - (sizes[0] + sizes[1])) <= 1
    assert client.get_account_balance(sender) * TRX == 100 * TRX - 3 * TRX - sizes[2] * 1000


def test_bad_signature(client: Tron, devnet: RunningDevnet, genesis_key: PrivateKey) -> None:
    other, _ = new_account(devnet, 1)
    _, to = new_account(devnet)
    txn = node_expiration(client.trx.transfer(devnet.genesis_address, to, TRX), devnet).build()
    txn.set_signature([other.sign_msg_hash(bytes.fromhex(txn.txid)).hex()])
    with pytest.raises(BadSignature, match="is signed by"):
        txn.broadcast()
    # the txid is now in the node's cache: any rebroadcast of it is a DUP, so use a new one
    txn = node_expiration(client.trx.transfer(devnet.genesis_address, to, 2 * TRX), devnet).build()
    txn.set_signature(["00" * 65])
    with pytest.raises(BadSignature):
        txn.broadcast()


def test_expired_after_advance(
    client: Tron, devnet: RunningDevnet, genesis_key: PrivateKey
) -> None:
    _, to = new_account(devnet)
    devnet.advance(3600)
    # tronpy sets expiration from its own clock: an hour behind the node's head block time now
    txn = client.trx.transfer(devnet.genesis_address, to, TRX).build().sign(genesis_key)
    with pytest.raises(TransactionError, match="expir"):
        txn.broadcast()
    # the same transfer with a node-time expiration goes through
    info = send(devnet, client.trx.transfer(devnet.genesis_address, to, TRX), genesis_key)
    assert info["blockNumber"] == devnet.state()["head_block"]


def test_tapos(client: Tron, devnet: RunningDevnet, genesis_key: PrivateKey) -> None:
    _, to = new_account(devnet)
    devnet.mine(2)
    built = node_expiration(client.trx.transfer(devnet.genesis_address, to, TRX), devnet).build()
    raw = dict(built._raw_data, ref_block_hash="0011223344556677")
    txn = Transaction(raw, client=client)  # the node returns the txID of the tampered raw_data
    with pytest.raises(TaposError):
        txn.sign(genesis_key).broadcast()


def test_duplicate(client: Tron, devnet: RunningDevnet, genesis_key: PrivateKey) -> None:
    _, to = new_account(devnet)
    builder = client.trx.transfer(devnet.genesis_address, to, TRX)
    txn = node_expiration(builder, devnet).build().sign(genesis_key)
    txn.broadcast()
    with pytest.raises(UnknownError) as err:
        txn.broadcast()
    assert err.value.args[1] == "DUP_TRANSACTION_ERROR"
    devnet.mine()
    with pytest.raises(UnknownError) as err:
        txn.broadcast()
    assert err.value.args[1] == "DUP_TRANSACTION_ERROR"
    # like java-tron's txid cache, a rejected broadcast is remembered too: fixing the cause and
    # rebroadcasting the same signed bytes is a DUP, not a second validation
    key, poor = new_account(devnet, 1)
    txn = node_expiration(client.trx.transfer(poor, to, 5 * TRX), devnet).build().sign(key)
    with pytest.raises(ValidationError):
        txn.broadcast()
    devnet.fund(poor, 10)
    with pytest.raises(UnknownError) as err:
        txn.broadcast()
    assert err.value.args[1] == "DUP_TRANSACTION_ERROR"


def test_contract_validate_error(client: Tron, devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 2)
    _, to = new_account(devnet, 1)
    txn = node_expiration(client.trx.transfer(sender, to, 5 * TRX), devnet).build().sign(key)
    with pytest.raises(
        ValidationError, match=r"Validate TransferContract error, balance is not sufficient\."
    ):
        txn.broadcast()
    assert client.get_account_balance(sender) == 2  # rejected: no bandwidth charged either
    txn = node_expiration(client.trx.transfer(sender, sender, TRX), devnet).build().sign(key)
    with pytest.raises(ValidationError, match=r"Cannot transfer TRX to yourself\."):
        txn.broadcast()


def test_raw_broadcast_error_shape(client: Tron, devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 2)
    _, to = new_account(devnet, 1)
    txn = node_expiration(client.trx.transfer(sender, to, 5 * TRX), devnet).build().sign(key)
    body = httpx.post(f"{devnet.url}/wallet/broadcasttransaction", json=txn.to_json()).json()
    assert body["result"] is False
    assert body["code"] == "CONTRACT_VALIDATE_ERROR"
    assert body["txid"] == txn.txid
    assert bytes.fromhex(body["message"]).decode() == (
        "contract validate error : Validate TransferContract error, balance is not sufficient."
    )


def test_createtransaction_builder(client: Tron, devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 10)
    _, to = new_account(devnet, 1)
    body = httpx.post(
        f"{devnet.url}/wallet/createtransaction",
        json={"owner_address": sender, "to_address": to, "amount": 3 * TRX, "visible": True},
    ).json()
    assert body["visible"] is True
    assert body["raw_data"]["contract"][0]["parameter"]["value"]["owner_address"] == sender
    assert hashlib.sha256(bytes.fromhex(body["raw_data_hex"])).hexdigest() == body["txID"]
    assert body["raw_data"]["expiration"] == devnet.head_timestamp() + 60_000
    txn = Transaction(body["raw_data"], client=client, txid=body["txID"], permission=None)
    ret = txn.sign(key).broadcast()
    assert ret["txid"] == body["txID"]
    devnet.mine()
    assert client.get_account_balance(to) == 4
    too_much = httpx.post(
        f"{devnet.url}/wallet/createtransaction",
        json={"owner_address": sender, "to_address": to, "amount": 100 * TRX, "visible": True},
    ).json()
    assert too_much == {
        "Error": "class org.tron.core.exception.ContractValidateException : "
        "Validate TransferContract error, balance is not sufficient."
    }


def test_pending_until_mined(client: Tron, devnet: RunningDevnet, genesis_key: PrivateKey) -> None:
    _, to = new_account(devnet)
    ret = send(
        devnet, client.trx.transfer(devnet.genesis_address, to, TRX), genesis_key, mine=False
    )
    assert (
        httpx.post(
            f"{devnet.url}/wallet/gettransactioninfobyid", json={"value": ret["txid"]}
        ).json()
        == {}
    )
    assert devnet.state()["pending_transactions"] == 1
    devnet.mine()
    info = client.get_transaction_info(ret["txid"])
    assert info["blockNumber"] == devnet.state()["head_block"]
