"""java-tron HTTP endpoints (``/wallet/*`` and ``/walletsolidity/*``) as plain functions.

Each handler takes ``(chain, body, visible, solid)`` and returns the JSON object java-tron would
answer (always HTTP 200). ``solid`` is true under ``/walletsolidity``: block and transaction
lookups then only see blocks at least ``solidity_lag`` behind the head. Account state under
``/walletsolidity`` is the current state (the devnet keeps no per-block snapshots).

Accounts, blocks and transactions are here; builders, smart contracts and Stake 2.0 queries in
:mod:`tron_devnet.api_contracts` (imported for its registrations).
"""

from __future__ import annotations

import json
from typing import Any

from tron_devnet import addresses, api_contracts, protobuf, views
from tron_devnet.api_base import (
    HANDLERS,
    SOLIDITY,
    BadRequest,
    body_address,
    body_int,
    endpoint,
    error,
    text,
)
from tron_devnet.chain import BroadcastError, Chain
from tron_devnet.crypto import recover_address, sha256

__all__ = ["HANDLERS", "api_contracts", "dispatch", "error"]


# ---------------------------------------------------------------------- accounts


@endpoint("getaccount")
def get_account(chain: Chain, body: dict[str, Any], visible: bool, solid: bool) -> dict[str, Any]:
    addr = body_address(body, "address")
    acct = chain.accounts.get(addr) if addr else None
    return views.account(chain, acct, visible) if acct else {}


@endpoint("getaccountresource")
def get_account_resource(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    addr = body_address(body, "address")
    acct = chain.accounts.get(addr) if addr else None
    return views.account_resource(chain, acct) if acct else {}


@endpoint("getaccountnet")
def get_account_net(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    addr = body_address(body, "address")
    acct = chain.accounts.get(addr) if addr else None
    return views.account_net(chain, acct) if acct else {}


@endpoint("validateaddress")
def validate_address(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    value = body.get("address")
    if addresses.is_valid(value):
        kind = "Base58check" if isinstance(value, str) and value.startswith("T") else "Hex string"
        return {"result": True, "message": f"{kind} format"}
    return {"message": "Invalid address"}


# ---------------------------------------------------------------------- blocks


def _top(chain: Chain, solid: bool) -> int:
    return chain.solid_number if solid else chain.head_number


@endpoint("getnowblock")
def get_now_block(chain: Chain, body: dict[str, Any], visible: bool, solid: bool) -> dict[str, Any]:
    return views.block(chain, _top(chain, solid), visible)


@endpoint("getblockbynum")
def get_block_by_num(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    num = body_int(body, "num")
    if num < 0 or num > _top(chain, solid):
        return {}
    return views.block(chain, num, visible)


@endpoint("getblockbyid")
def get_block_by_id(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    value = str(body.get("value", ""))
    try:
        block_id = bytes.fromhex(value)
    except ValueError:
        return error("org.tron.core.services.http.JsonFormat$ParseException", "INVALID hex String")
    if len(block_id) != 32:
        return {}
    num = int.from_bytes(block_id[:8], "big")
    if num > _top(chain, solid) or chain.block_id(num) != block_id:
        return {}
    return views.block(chain, num, visible)


@endpoint("getblockbylatestnum")
def get_block_by_latest_num(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    count = body_int(body, "num")
    if count <= 0 or count > 100:
        return {}
    top = _top(chain, solid)
    start = max(0, top - count + 1)
    return {"block": [views.block(chain, n, visible) for n in range(start, top + 1)]}


@endpoint("getblockbylimitnext")
def get_block_by_limit_next(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    start, end = body_int(body, "startNum"), body_int(body, "endNum")
    end = min(end, _top(chain, solid) + 1)
    if start < 0 or end <= start or end - start > 100:
        return {}
    return {"block": [views.block(chain, n, visible) for n in range(start, end)]}


@endpoint("getblock")
def get_block(chain: Chain, body: dict[str, Any], visible: bool, solid: bool) -> dict[str, Any]:
    """Newer ``wallet/getblock``: ``id_or_num`` (number or block id), ``detail`` (transactions)."""
    value = str(body.get("id_or_num", "") or "")
    if not value:
        num = _top(chain, solid)
    elif len(value) == 64:
        found = get_block_by_id(chain, {"value": value}, visible, solid)
        if not found or "Error" in found:
            return found
        num = int(value[:16], 16)
    else:
        num = body_int({"n": value}, "n")
        if num < 0 or num > _top(chain, solid):
            return {}
    block = views.block(chain, num, visible)
    if not body.get("detail") and "transactions" in block:
        block["transactions"] = [{"txID": tx["txID"]} for tx in block["transactions"]]
    return block


@endpoint("getnodeinfo")
def get_node_info(chain: Chain, body: dict[str, Any], visible: bool, solid: bool) -> dict[str, Any]:
    head, solid_num = chain.head_number, chain.solid_number
    return {
        "beginSyncNum": head,
        "block": f"Num:{head},ID:{chain.block_id(head).hex()}",
        "solidityBlock": f"Num:{solid_num},ID:{chain.block_id(solid_num).hex()}",
        "configNodeInfo": {
            "codeVersion": "4.8.1-devnet",
            "versionNum": "18636",
            "p2pVersion": "devnet",
            "supportConstant": True,
            "dbVersion": 2,
        },
        "machineInfo": {"cpuCount": 1, "javaVersion": "python-devnet"},
    }


@endpoint("getchainparameters")
def get_chain_parameters(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    return views.chain_parameters(chain)


@endpoint("getenergyprices")
def get_energy_prices(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    return {"prices": f"0:{chain.params['getEnergyFee']}"}


@endpoint("getbandwidthprices")
def get_bandwidth_prices(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    return {"prices": f"0:{chain.params['getTransactionFee']}"}


@endpoint("listwitnesses")
def list_witnesses(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    return {
        "witnesses": [
            {"address": addresses.render(chain._witness, visible), "isJobs": True, "url": "devnet"}
        ]
    }


# ---------------------------------------------------------------------- transactions


def _txid(body: dict[str, Any]) -> str:
    return str(body.get("value", "")).lower()


@endpoint("gettransactionbyid")
def get_transaction_by_id(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    rec = chain.txs.get(_txid(body))
    if rec is None or rec.block_number < 0 or rec.block_number > _top(chain, solid):
        return {}
    return views.transaction(rec, visible)


@endpoint("gettransactioninfobyid")
def get_transaction_info_by_id(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    rec = chain.txs.get(_txid(body))
    if rec is None or rec.block_number < 0 or rec.block_number > _top(chain, solid):
        return {}
    return views.transaction_info(rec, visible)


@endpoint("gettransactioninfobyblocknum")
def get_transaction_info_by_block_num(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    num = body_int(body, "num")
    block = chain.blocks.get(num)
    if block is None or num > _top(chain, solid):
        return {}
    # java-tron answers a JSON array here; the server serialises lists as-is
    return {"__list__": [views.transaction_info(chain.txs[t], visible) for t in block.txids]}


@endpoint("gettransactionlistfrompending")
def get_transaction_list_from_pending(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    return {"txId": list(chain.pending)} if chain.pending else {}


@endpoint("gettransactionfrompending")
def get_transaction_from_pending(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    txid = _txid(body)
    if txid not in chain.pending:
        return {}
    return views.transaction(chain.txs[txid], visible, with_ret=False)


@endpoint("getpendingsize")
def get_pending_size(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    return {"pendingSize": len(chain.pending)} if chain.pending else {}


def _broadcast_result(
    chain: Chain,
    raw_data: Any,
    signatures: list[str],
    visible: bool,
    raw_data_hex: Any = None,
) -> dict[str, Any]:
    txid = ""
    try:
        txid = sha256(chain.raw_bytes_of(raw_data, raw_data_hex)).hex()
    except (protobuf.ProtoError, ValueError, TypeError):
        txid = ""
    try:
        txid, _dropped = chain.broadcast(raw_data, signatures, raw_data_hex)
    except BroadcastError as exc:
        out: dict[str, Any] = {"result": False, "code": exc.code}
        if exc.message:
            out["message"] = text(exc.message, visible)
        if txid:
            out["txid"] = txid
        return out
    return {"result": True, "code": "SUCCESS", "txid": txid}


@endpoint("broadcasttransaction")
def broadcast_transaction(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    signatures = body.get("signature") or []
    if not isinstance(signatures, list):
        return error("org.tron.json.JSONException", "signature must be a list")
    return _broadcast_result(
        chain,
        body.get("raw_data"),
        [str(s) for s in signatures],
        visible,
        body.get("raw_data_hex"),
    )


@endpoint("broadcasthex")
def broadcast_hex(chain: Chain, body: dict[str, Any], visible: bool, solid: bool) -> dict[str, Any]:
    try:
        raw, sigs = protobuf.decode_transaction(bytes.fromhex(str(body.get("transaction", ""))))
    except (protobuf.ProtoError, ValueError) as exc:
        return error("com.google.protobuf.InvalidProtocolBufferException", str(exc))
    out = _broadcast_result(chain, raw, [s.hex() for s in sigs], visible)
    txid = out.get("txid", "")
    tx = {"txID": txid, "raw_data": raw, "signature": [s.hex() for s in sigs]}
    out.setdefault("message", "")
    out["transaction"] = json.dumps(tx, separators=(",", ":"))
    return out


@endpoint("getsignweight")
def get_sign_weight(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    try:
        raw_bytes = chain.raw_bytes_of(body.get("raw_data"), body.get("raw_data_hex"))
        txid = sha256(raw_bytes).hex()
        canonical, _ = protobuf.decode_transaction(protobuf.encode_transaction(raw_bytes, []))
    except (protobuf.ProtoError, ValueError) as exc:
        return error("org.tron.core.services.http.JsonFormat$ParseException", str(exc))
    sigs = [str(s) for s in body.get("signature") or []]
    tx = {
        "signature": sigs,
        "txID": txid,
        "raw_data": views.render_raw(canonical, visible),
        "raw_data_hex": raw_bytes.hex(),
    }
    if not sigs:
        del tx["signature"]
    out: dict[str, Any] = {}
    contracts = canonical.get("contract") or []
    owner_hex = contracts[0]["parameter"]["value"].get("owner_address") if contracts else None
    owner = bytes.fromhex(owner_hex) if owner_hex else None
    if owner is not None and owner in chain.accounts:
        out["permission"] = {
            "permission_name": "owner",
            "threshold": 1,
            "keys": [{"address": addresses.render(owner, visible), "weight": 1}],
        }
        approved = []
        for sig in sigs:
            try:
                signer = recover_address(bytes.fromhex(txid), bytes.fromhex(sig))
            except ValueError:
                signer = None
            if signer == owner:
                approved.append(addresses.render(owner, visible))
        if approved:
            out["current_weight"] = 1
            out["approved_list"] = approved
            out["result"] = {"code": "ENOUGH_PERMISSION"}
        else:
            out["result"] = {"code": "NOT_ENOUGH_PERMISSION"}
    else:
        out["result"] = {"code": "PERMISSION_ERROR", "message": "Account does not exist!"}
    out["transaction"] = {"result": {"result": True}, "txid": txid, "transaction": tx}
    return out


def dispatch(
    chain: Chain, name: str, body: dict[str, Any], solid: bool
) -> dict[str, Any] | list[Any] | None:
    """Run endpoint ``name``; None if unknown. Errors come back as java-tron ``Error`` JSON."""
    if solid and name not in SOLIDITY:
        return None
    handler = HANDLERS.get(name)
    if handler is None:
        return None
    visible = body.get("visible") in (True, "true", "True")
    try:
        result = handler(chain, body, visible, solid)
    except BadRequest as exc:
        return exc.payload
    if "__list__" in result:
        items: list[Any] = result["__list__"]
        return items
    return result
