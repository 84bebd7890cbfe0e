"""Writes about pools, one module per flow. Chain-derived numbers change only through sync."""

from pools.services.keys import signing_key_generate, signing_key_import, signing_keys_rotate
from pools.services.pools import pool_update_settings

__all__ = [
    "pool_update_settings",
    "signing_key_generate",
    "signing_key_import",
    "signing_keys_rotate",
]
