"""Wire-level details: protobuf txIDs vs java-tron's documented examples, broadcasthex, routing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from tron_devnet import protobuf
from tron_devnet.testing import RunningDevnet
from tron_devnet.tests.helpers import TRX, new_account

EXAMPLES = Path(__file__).parent / "data" / "tron-http-examples.json"


@pytest.mark.parametrize(
    ("raw_data", "raw_hex", "txid"),
    [
        (
            {
                "contract": [
                    {
                        "parameter": {
                            "value": {
                                "amount": 1000000,
                                "owner_address": "41dd791d6b49e190062d650e6a23c575510d35f2f9",
                                "to_address": "4192ad11c1bf16b3b14b0bd6b5c7e2db73a0b5e83a",
                            },
                            "type_url": "type.googleapis.com/protocol.TransferContract",
                        },
                        "type": "TransferContract",
                    }
                ],
                "ref_block_bytes": "2927",
                "ref_block_hash": "939ece39d08a7abe",
                "expiration": 1777447527000,
                "timestamp": 1777447470038,
            },
            "0a0229272208939ece39d08a7abe40d8c483c1dd335a67080112630a2d747970652e676f6f676c65617069"
            "732e636f6d2f70726f746f636f6c2e5472616e73666572436f6e747261637412320a1541dd791d6b49e190"
            "062d650e6a23c575510d35f2f912154192ad11c1bf16b3b14b0bd6b5c7e2db73a0b5e83a18c0843d70d687"
            "80c1dd33",
            "6303c7639f591407ef9f34a7ac8c9c9a21151f5a6af21924502515734fc267ab",
        ),
        (
            {
                "contract": [
                    {
                        "parameter": {
                            "value": {
                                "resource": "ENERGY",
                                "frozen_balance": 1000000000,
                                "owner_address": "41dd791d6b49e190062d650e6a23c575510d35f2f9",
                            },
                            "type_url": "type.googleapis.com/protocol.FreezeBalanceV2Contract",
                        },
                        "type": "FreezeBalanceV2Contract",
                    }
                ],
                "ref_block_bytes": "283b",
                "ref_block_hash": "51bf0b88daaaea37",
                "expiration": 1777446819000,
                "timestamp": 1777446761432,
            },
            "0a02283b220851bf0b88daaaea3740b8a9d8c0dd335a5b083612570a34747970652e676f6f676c65617069"
            "732e636f6d2f70726f746f636f6c2e467265657a6542616c616e63655632436f6e7472616374121f0a1541"
            "dd791d6b49e190062d650e6a23c575510d35f2f9108094ebdc03180170d8e7d4c0dd33",
            "081256264131fbc9f3d4686aab15ae69c0e77b39d276367c11a7ab13e39747ec",
        ),
    ],
)
def test_txid_matches_java_tron_examples(
    raw_data: dict[str, object], raw_hex: str, txid: str
) -> None:
    raw = protobuf.encode_raw(raw_data)
    assert raw.hex() == raw_hex
    assert hashlib.sha256(raw).hexdigest() == txid
    decoded, sigs = protobuf.decode_transaction(protobuf.encode_transaction(raw, []))
    assert protobuf.encode_raw(decoded) == raw
    assert sigs == []


def test_reference_builder_examples_hash_to_their_txid() -> None:
    examples = json.loads(EXAMPLES.read_text())
    for path in ("/wallet/createtransaction", "/wallet/freezebalancev2"):
        tx = examples[path]["response_examples"][0]
        raw = protobuf.encode_raw(tx["raw_data"])
        assert raw.hex() == tx["raw_data_hex"]
        assert hashlib.sha256(raw).hexdigest() == tx["txID"]


def test_negative_and_large_varints() -> None:
    assert protobuf.varint(-1) == b"\xff" * 9 + b"\x01"
    assert protobuf.varint(300) == b"\xac\x02"


def test_broadcasthex(devnet: RunningDevnet) -> None:
    key, sender = new_account(devnet, 10)
    _, to = new_account(devnet, 1)
    built = httpx.post(
        f"{devnet.url}/wallet/createtransaction",
        json={"owner_address": sender, "to_address": to, "amount": TRX, "visible": True},
    ).json()
    sig = bytes.fromhex(key.sign_msg_hash(bytes.fromhex(built["txID"])).hex())
    tx_hex = protobuf.encode_transaction(bytes.fromhex(built["raw_data_hex"]), [sig]).hex()
    body = httpx.post(f"{devnet.url}/wallet/broadcasthex", json={"transaction": tx_hex}).json()
    assert body["result"] is True
    assert body["txid"] == built["txID"]
    devnet.mine()
    info = httpx.post(
        f"{devnet.url}/wallet/gettransactioninfobyid", json={"value": built["txID"]}
    ).json()
    assert info["id"] == built["txID"]


def test_get_requests_and_unknown_routes(devnet: RunningDevnet) -> None:
    _, addr = new_account(devnet, 1)
    body = httpx.get(f"{devnet.url}/wallet/getaccount", params={"address": addr, "visible": "true"})
    assert body.json()["address"] == addr
    assert httpx.post(f"{devnet.url}/wallet/nosuchthing", json={}).status_code == 404
    assert (
        httpx.post(f"{devnet.url}/walletsolidity/broadcasttransaction", json={}).status_code == 404
    )


def test_control_api_amounts(devnet: RunningDevnet) -> None:
    _, addr = new_account(devnet)
    assert devnet.fund(addr, "1.5")["balance"] == 1_500_000
    assert devnet.mint(addr, "0.000001")["balance"] == 1
    bad = httpx.post(f"{devnet.url}/devnet/fund", json={"address": addr, "trx": "0.0000001"})
    assert bad.status_code == 400
    state = devnet.state()
    assert state["accounts"] >= 3
    assert state["mode"] == "manual"


def test_pending_pool_and_getblock(devnet: RunningDevnet) -> None:
    from tronpy import Tron
    from tronpy.keys import PrivateKey
    from tronpy.providers import HTTPProvider

    from tron_devnet.tests.helpers import send

    client = Tron(HTTPProvider(devnet.url + "/"))
    key = PrivateKey(bytes.fromhex(devnet.genesis_private_key))
    _, to = new_account(devnet, 1)
    ret = send(devnet, client.trx.transfer(devnet.genesis_address, to, TRX), key, mine=False)
    url = devnet.url + "/wallet/"
    assert httpx.post(url + "getpendingsize", json={}).json() == {"pendingSize": 1}
    assert httpx.post(url + "gettransactionlistfrompending", json={}).json() == {
        "txId": [ret["txid"]]
    }
    pending = httpx.post(url + "gettransactionfrompending", json={"value": ret["txid"]}).json()
    assert pending["txID"] == ret["txid"]
    devnet.mine()
    assert httpx.post(url + "getpendingsize", json={}).json() == {}
    head = devnet.state()["head_block"]
    block = httpx.post(url + "getblock", json={"id_or_num": str(head)}).json()
    assert block["transactions"] == [{"txID": ret["txid"]}]
    detailed = httpx.post(url + "getblock", json={"id_or_num": block["blockID"], "detail": True})
    assert detailed.json()["transactions"][0]["raw_data_hex"]


def test_raw_data_hex_is_what_gets_hashed(devnet: RunningDevnet) -> None:
    """Clients that send raw_data_hex (TronWeb does) get exactly those bytes hashed and run."""
    key, sender = new_account(devnet, 10)
    _, to = new_account(devnet, 1)
    built = httpx.post(
        f"{devnet.url}/wallet/createtransaction",
        json={"owner_address": sender, "to_address": to, "amount": TRX, "visible": True},
    ).json()
    sig = key.sign_msg_hash(bytes.fromhex(built["txID"])).hex()
    payload = {
        "txID": built["txID"],
        "raw_data": {**built["raw_data"], "unmodelled_field": 1},
        "raw_data_hex": built["raw_data_hex"],
        "signature": [sig],
        "visible": True,
    }
    body = httpx.post(f"{devnet.url}/wallet/broadcasttransaction", json=payload).json()
    assert body == {"result": True, "code": "SUCCESS", "txid": built["txID"]}
