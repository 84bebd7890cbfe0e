"""The platform's only door to TRON: a typed facade over tronpy (see `client.py`)."""

from pools.chain.client import ChainClient, chain_client
from pools.chain.errors import ChainError, ChainRejected, ChainUnavailable
from pools.chain.types import (
    AccountState,
    BlockRef,
    BroadcastResult,
    ChainParameters,
    TxReceipt,
    UnsignedTransaction,
)

__all__ = [
    "AccountState",
    "BlockRef",
    "BroadcastResult",
    "ChainClient",
    "ChainError",
    "ChainParameters",
    "ChainRejected",
    "ChainUnavailable",
    "TxReceipt",
    "UnsignedTransaction",
    "chain_client",
]
