"""Fault injection as a plain HTTP client sees it, and state persistence across a restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tronpy import Tron
from tronpy.keys import PrivateKey
from tronpy.providers import HTTPProvider

from tron_devnet.testing import RunningDevnet, devnet_server
from tron_devnet.tests.helpers import TRX, new_account, node_expiration, send


def signed_transfer(
    client: Tron, devnet: RunningDevnet, key: PrivateKey, to: str
) -> dict[str, Any]:
    builder = client.trx.transfer(key.public_key.to_base58check_address(), to, TRX)
    payload: dict[str, Any] = node_expiration(builder, devnet).build().sign(key).to_json()
    return payload


def broadcast(devnet: RunningDevnet, payload: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(
        f"{devnet.url}/wallet/broadcasttransaction", json=payload
    ).json()
    return body


def tx_info(devnet: RunningDevnet, txid: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.post(
        f"{devnet.url}/wallet/gettransactioninfobyid", json={"value": txid}
    ).json()
    return body


def test_dropped_broadcast_never_lands(
    client: Tron, devnet: RunningDevnet, genesis_key: PrivateKey
) -> None:
    _, to = new_account(devnet, 1)
    devnet.faults(drop_broadcasts=1)
    payload = signed_transfer(client, devnet, genesis_key, to)
    ret = broadcast(devnet, payload)
    assert ret == {"result": True, "code": "SUCCESS", "txid": payload["txID"]}
    devnet.mine(5)
    assert tx_info(devnet, payload["txID"]) == {}
    assert client.get_account_balance(to) == 1
    # this node remembers it: rebroadcasting the same bytes is a duplicate
    assert broadcast(devnet, payload)["code"] == "DUP_TRANSACTION_ERROR"
    # only one broadcast was dropped
    other = signed_transfer(client, devnet, genesis_key, to)
    assert broadcast(devnet, other)["result"] is True
    devnet.mine()
    assert tx_info(devnet, other["txID"])["blockNumber"] == devnet.state()["head_block"]


def test_drop_by_txid(client: Tron, devnet: RunningDevnet, genesis_key: PrivateKey) -> None:
    _, to = new_account(devnet, 1)
    payload = signed_transfer(client, devnet, genesis_key, to)
    devnet.faults(drop_txids=[payload["txID"]])
    assert broadcast(devnet, payload)["result"] is True
    devnet.mine()
    assert tx_info(devnet, payload["txID"]) == {}


def test_server_busy(client: Tron, devnet: RunningDevnet, genesis_key: PrivateKey) -> None:
    _, to = new_account(devnet, 1)
    devnet.faults(server_busy=1)
    payload = signed_transfer(client, devnet, genesis_key, to)
    ret = broadcast(devnet, payload)
    assert ret["result"] is False
    assert ret["code"] == "SERVER_BUSY"
    assert "message" not in ret  # java-tron sets no message for SERVER_BUSY
    assert broadcast(devnet, payload)["result"] is True  # the retry is accepted


def test_latency(devnet: RunningDevnet) -> None:
    devnet.faults(latency_ms=300)
    started = time.monotonic()
    httpx.post(f"{devnet.url}/wallet/getnodeinfo", json={})
    assert time.monotonic() - started >= 0.3
    devnet.faults(latency_ms=0)
    started = time.monotonic()
    httpx.post(f"{devnet.url}/wallet/getnodeinfo", json={})
    assert time.monotonic() - started < 0.3


def test_refused_connections(devnet: RunningDevnet) -> None:
    devnet.faults(refuse_seconds=1.0)
    time.sleep(0.2)
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{devnet.url}/wallet/getnodeinfo", json={}, timeout=2)
    time.sleep(1.2)
    assert "block" in httpx.post(f"{devnet.url}/wallet/getnodeinfo", json={}, timeout=2).json()


def test_keepalive_connection_is_dropped_while_refusing(devnet: RunningDevnet) -> None:
    with httpx.Client(base_url=devnet.url, timeout=2) as http:
        assert http.post("/wallet/getnodeinfo", json={}).status_code == 200
        http.post("/devnet/faults", json={"refuse_seconds": 1.0})
        with pytest.raises(httpx.TransportError):
            http.post("/wallet/getnodeinfo", json={})
    time.sleep(1.3)


def test_state_survives_restart(tmp_path: Path) -> None:
    state_file = str(tmp_path / "devnet.json")
    key = PrivateKey.random()
    addr = key.public_key.to_base58check_address()
    with devnet_server(state_file=state_file) as devnet:
        tron = Tron(HTTPProvider(devnet.url + "/"))
        devnet.fund(addr, 1_000)
        devnet.mint(addr, 7)
        _, to = new_account(devnet)
        info = send(devnet, tron.trx.transfer(addr, to, 5 * TRX), key)
        send(devnet, tron.trx.freeze_balance(addr, 100 * TRX, "ENERGY"), key)
        devnet.advance(3600)
        genesis = devnet.genesis_private_key
        state = devnet.state()
        balance = tron.get_account_balance(addr)
    assert Path(state_file).exists()
    with devnet_server(state_file=state_file) as devnet:
        tron = Tron(HTTPProvider(devnet.url + "/"))
        assert devnet.genesis_private_key == genesis
        assert devnet.state()["head_block"] == state["head_block"]
        assert tron.get_account_balance(addr) == balance
        assert tron.get_account_balance(to) == 5
        assert tron.get_transaction_info(info["id"])["blockNumber"] == info["blockNumber"]
        assert (
            tron.get_contract("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").functions.balanceOf(addr)
            == 7 * TRX
        )
        assert tron.get_account(addr)["frozenV2"][1]["amount"] == 100 * TRX
        # the chain continues from the saved head
        send(devnet, tron.trx.transfer(addr, to, TRX), key)
        assert tron.get_account_balance(to) == 6
