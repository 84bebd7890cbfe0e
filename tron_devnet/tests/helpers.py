"""Helpers shared by the devnet tests (plain functions, no fixtures)."""

from __future__ import annotations

from typing import Any

from tronpy.keys import PrivateKey
from tronpy.tron import TransactionBuilder, current_timestamp

from tron_devnet.testing import RunningDevnet

USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TRX = 1_000_000


def new_account(devnet: RunningDevnet, trx: int | None = None) -> tuple[PrivateKey, str]:
    """A fresh key; funded (activated) with ``trx`` through the control API when given."""
    key = PrivateKey.random()
    addr = key.public_key.to_base58check_address()
    if trx is not None:
        devnet.fund(addr, trx)
    return key, addr


def node_expiration(builder: TransactionBuilder, devnet: RunningDevnet) -> TransactionBuilder:
    """Expire 60 s after the node's head block time (tronpy uses its own clock by default)."""
    return builder.expiration(devnet.head_timestamp() + 60_000 - current_timestamp())


def send(
    devnet: RunningDevnet, builder: TransactionBuilder, key: PrivateKey, *, mine: bool = True
) -> dict[str, Any]:
    """Build (with node-time expiration), sign, broadcast, mine one block, return the receipt."""
    txn = node_expiration(builder, devnet).build().sign(key)
    ret = txn.broadcast()
    assert ret["result"] is True, ret
    if not mine:
        return dict(ret)
    devnet.mine()
    info: dict[str, Any] = ret.wait(timeout=5, interval=0.05)
    return info
