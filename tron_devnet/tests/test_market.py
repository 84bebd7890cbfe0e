"""The rental market: pay by transfer, order, energy delegated on chain; refusals and refunds."""

from __future__ import annotations

from typing import Any

import httpx
from tronpy import Tron

from tron_devnet.market import DAY_MS, order_cost_sun
from tron_devnet.testing import RunningDevnet
from tron_devnet.tests.helpers import TRX, new_account, send


def pay(devnet: RunningDevnet, client: Tron, key: Any, owner: str, sun: int) -> str:
    market = devnet.market()["address"]
    info = send(devnet, client.trx.transfer(owner, market, sun), key)
    return str(info["id"])


def order(devnet: RunningDevnet, **body: Any) -> httpx.Response:
    return httpx.post(f"{devnet.url}/market/order", json=body, timeout=5)


def test_a_paid_order_delegates_energy_on_chain_and_repeats_safely(devnet, client):
    key, buyer = new_account(devnet, 1_000)
    _, pool = new_account(devnet, 1)
    cost = order_cost_sun(devnet.market()["energy_fee"], 100_000, 1)
    txid = pay(devnet, client, key, buyer, cost)
    body = {"receiver": pool, "energy": 100_000, "days": 1, "payment_txid": txid}
    first = order(devnet, **body)
    assert first.status_code == 201, first.text
    placed = first.json()
    assert (placed["state"], placed["cost_sun"], placed["paid_sun"]) == ("delegating", cost, cost)
    again = order(devnet, **body)  # the same payment: the same order, nothing delegated twice
    assert again.status_code == 200
    assert again.json()["id"] == placed["id"]
    devnet.mine()
    got = httpx.get(f"{devnet.url}/market/order/{placed['id']}").json()
    assert got["state"] == "delivered"
    resource = client.get_account_resource(pool)
    assert resource["EnergyLimit"] >= 100_000
    # After its day the market takes the energy back.
    devnet.advance(DAY_MS / 1000 + 60)
    assert httpx.get(f"{devnet.url}/market/order/{placed['id']}").json()["state"] == "expired"
    devnet.mine()
    assert client.get_account_resource(pool).get("EnergyLimit", 0) == 0


def test_refusals_before_payment_and_refunds_after(devnet, client):
    key, buyer = new_account(devnet, 1_000)
    _, pool = new_account(devnet, 1)
    assert order(devnet, receiver=pool, energy=10, days=2, payment_txid="zz").status_code == 400
    missing = order(devnet, receiver=pool, energy=100_000, days=1, payment_txid="ab" * 32)
    assert (missing.status_code, missing.json()["error"]) == (402, "payment not found in a block")
    devnet.market(unavailable=1)
    assert (
        order(devnet, receiver=pool, energy=100_000, days=1, payment_txid="ab" * 32).status_code
        == 503
    )

    # Too little supply: the paid order fails and the payment comes back.
    devnet.market(stake_trx=10)
    cost = order_cost_sun(100, 100_000, 1)
    txid = pay(devnet, client, key, buyer, cost)
    balance = client.get_account_balance(buyer)
    refused = order(devnet, receiver=pool, energy=100_000, days=1, payment_txid=txid).json()
    assert (refused["state"], refused["reason"]) == ("failed", "insufficient supply")
    devnet.mine()
    assert client.get_account_balance(buyer) * TRX == balance * TRX + cost

    # An injected failure likewise; another payment for the same order is another order.
    devnet.market(stake_trx=200_000, fail_orders=1)
    txid = pay(devnet, client, key, buyer, cost)
    failed = order(devnet, receiver=pool, energy=100_000, days=1, payment_txid=txid).json()
    assert failed["state"] == "failed"
    assert failed["refund_txid"]
    reuse = order(devnet, receiver=pool, energy=200_000, days=1, payment_txid=txid)
    assert reuse.status_code == 409
