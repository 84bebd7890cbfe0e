"""java-tron JSON shapes for accounts, resources, blocks, transactions and receipts.

Proto3 style: zero/false/empty fields are omitted. ``visible`` selects base58 (true) or hex
(false) for every address field, as java-tron's ``JsonFormat`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tron_devnet import addresses, economics
from tron_devnet.crypto import sha256
from tron_devnet.state import BANDWIDTH, ENERGY, Account, TxRecord

if TYPE_CHECKING:
    from tron_devnet.chain import Chain

ACTIVE_OPERATIONS = "7fff1fc0033efb0f000000000000000000000000000000000000000000000000"
ADDRESS_KEYS = (
    "owner_address",
    "to_address",
    "contract_address",
    "receiver_address",
    "account_address",
)


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value:
        out[key] = value


def account(chain: Chain, acct: Account, visible: bool) -> dict[str, Any]:
    """``wallet/getaccount``: usage fields recovered to the head slot (Wallet.getAccount)."""
    slot = chain.head_slot
    addr = addresses.render(acct.address, visible)
    out: dict[str, Any] = {"address": addr}
    _put(out, "balance", acct.balance)
    if acct.is_contract:
        out["type"] = "Contract"
    _put(out, "create_time", acct.create_time)
    _put(out, "latest_opration_time", acct.latest_opration_time)
    net_used = economics.net_used_now(acct, slot)
    _put(out, "net_usage", net_used)
    if acct.latest_consume_time:
        out["latest_consume_time"] = chain.slot_ms(acct.latest_consume_time)
    _put(out, "free_net_usage", economics.free_net_used_now(acct, slot))
    if acct.latest_consume_free_time:
        out["latest_consume_free_time"] = chain.slot_ms(acct.latest_consume_free_time)
    out["net_window_size"] = acct.net_window
    out["net_window_optimized"] = True
    resource: dict[str, Any] = {}
    _put(resource, "energy_usage", economics.energy_used_now(acct, slot))
    _put(
        resource,
        "delegated_frozenV2_balance_for_energy",
        acct.delegated_energy,
    )
    _put(resource, "acquired_delegated_frozenV2_balance_for_energy", acct.acquired_energy)
    if acct.latest_consume_time_for_energy:
        resource["latest_consume_time_for_energy"] = chain.slot_ms(
            acct.latest_consume_time_for_energy
        )
    resource["energy_window_size"] = acct.energy_window
    resource["energy_window_optimized"] = True
    out["account_resource"] = resource
    key = {"address": acct.address.hex() if not visible else addr, "weight": 1}
    out["owner_permission"] = {"permission_name": "owner", "threshold": 1, "keys": [key]}
    out["active_permission"] = [
        {
            "type": "Active",
            "id": 2,
            "permission_name": "active",
            "threshold": 1,
            "operations": ACTIVE_OPERATIONS,
            "keys": [key],
        }
    ]
    bw: dict[str, Any] = {}
    _put(bw, "amount", acct.frozen_bandwidth)
    en: dict[str, Any] = {"type": "ENERGY"}
    _put(en, "amount", acct.frozen_energy)
    out["frozenV2"] = [bw, en, {"type": "TRON_POWER"}]
    if acct.unfrozen:
        entries = []
        for u in acct.unfrozen:
            entry: dict[str, Any] = {}
            if u.resource != BANDWIDTH:
                entry["type"] = "ENERGY" if u.resource == ENERGY else "TRON_POWER"
            entry["unfreeze_amount"] = u.amount
            entry["unfreeze_expire_time"] = u.expire_time
            entries.append(entry)
        out["unfrozenV2"] = entries
    _put(out, "delegated_frozenV2_balance_for_bandwidth", acct.delegated_bandwidth)
    _put(out, "acquired_delegated_frozenV2_balance_for_bandwidth", acct.acquired_bandwidth)
    return out


def account_net(chain: Chain, acct: Account) -> dict[str, Any]:
    """``wallet/getaccountnet``."""
    slot = chain.head_slot
    out: dict[str, Any] = {}
    _put(out, "freeNetUsed", economics.free_net_used_now(acct, slot))
    _put(out, "freeNetLimit", chain.params["getFreeNetLimit"])
    _put(out, "NetUsed", economics.net_used_now(acct, slot))
    _put(out, "NetLimit", chain.net_limit(acct))
    _put(out, "TotalNetLimit", chain.params["getTotalNetLimit"])
    _put(out, "TotalNetWeight", chain.net_weight())
    return out


def account_resource(chain: Chain, acct: Account) -> dict[str, Any]:
    """``wallet/getaccountresource`` (AccountResourceMessage), usage recovered to the head slot."""
    out = account_net(chain, acct)
    _put(out, "TotalEnergyLimit", chain.params["getTotalEnergyCurrentLimit"])
    _put(out, "TotalEnergyWeight", chain.energy_weight())
    _put(out, "EnergyUsed", economics.energy_used_now(acct, chain.head_slot))
    _put(out, "EnergyLimit", chain.energy_limit(acct))
    power = (
        acct.frozen_bandwidth
        + acct.frozen_energy
        + acct.delegated_bandwidth
        + acct.delegated_energy
    ) // economics.TRX
    _put(out, "tronPowerLimit", power)
    _put(
        out,
        "TotalTronPowerWeight",
        chain.energy_weight() + chain.net_weight(),
    )
    return out


def render_raw(raw: dict[str, Any], visible: bool) -> dict[str, Any]:
    """Canonical (hex) raw_data in the requested address form."""
    if not visible:
        return raw
    out = dict(raw)
    contracts = []
    for c in raw["contract"]:
        value = dict(c["parameter"]["value"])
        for k in ADDRESS_KEYS:
            if k in value:
                value[k] = addresses.to_base58(bytes.fromhex(value[k]))
        contracts.append({**c, "parameter": {**c["parameter"], "value": value}})
    out["contract"] = contracts
    return out


def transaction(rec: TxRecord, visible: bool, with_ret: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if with_ret:
        out["ret"] = [{"contractRet": rec.contract_ret}]
    out["signature"] = rec.signature
    out["txID"] = rec.txid
    out["raw_data"] = render_raw(rec.raw_data, visible)
    out["raw_data_hex"] = rec.raw_data_hex
    return out


def built_transaction(tx: dict[str, Any], visible: bool) -> dict[str, Any]:
    """Builder endpoint answer: ``{visible, txID, raw_data, raw_data_hex}``."""
    return {
        "visible": visible,
        "txID": tx["txID"],
        "raw_data": render_raw(tx["raw_data"], visible),
        "raw_data_hex": tx["raw_data_hex"],
    }


def transaction_info(rec: TxRecord, visible: bool) -> dict[str, Any]:
    info = rec.info
    if not visible:
        return info
    out = dict(info)
    if "contract_address" in out:
        out["contract_address"] = addresses.to_base58(bytes.fromhex(out["contract_address"]))
    if "log" in out:
        out["log"] = [
            {**log, "address": addresses.to_base58(bytes.fromhex("41" + log["address"]))}
            for log in out["log"]
        ]
    return out


def block(chain: Chain, number: int, visible: bool) -> dict[str, Any]:
    """``wallet/getblockbynum`` shape; empty blocks have no ``transactions`` key."""
    block_id = chain.block_id(number)
    stored = chain.blocks.get(number)
    txids = stored.txids if stored else []
    ts = chain.block_ts(number)
    raw: dict[str, Any] = {}
    _put(raw, "number", number)
    raw["txTrieRoot"] = (
        sha256(b"".join(bytes.fromhex(t) for t in txids)).hex() if txids else "00" * 32
    )
    raw["witness_address"] = addresses.render(chain._witness, visible)
    if number > 0:
        raw["parentHash"] = chain.block_id(number - 1).hex()
    raw["version"] = 32
    raw["timestamp"] = ts
    out: dict[str, Any] = {
        "blockID": block_id.hex(),
        "block_header": {
            "raw_data": raw,
            "witness_signature": (sha256(block_id) + sha256(block_id[::-1]) + b"\x01").hex(),
        },
    }
    if txids:
        out["transactions"] = [transaction(chain.txs[t], visible) for t in txids]
    return out


def chain_parameters(chain: Chain) -> dict[str, Any]:
    params = []
    for key in economics.DEFAULT_PARAMS:
        value = chain.params[key]
        params.append({"key": key, "value": value} if value else {"key": key})
    return {"chainParameter": params}
