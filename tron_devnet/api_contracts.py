"""java-tron builder endpoints, smart-contract endpoints (built-in USDT), Stake 2.0 queries."""

from __future__ import annotations

from typing import Any

from tron_devnet import addresses, protobuf, usdt, views
from tron_devnet.actuators import TxFailure, can_delegate_max, validate_for_build
from tron_devnet.api_base import (
    HANDLERS,
    BadRequest,
    Handler,
    body_address,
    body_int,
    endpoint,
    error,
    text,
)
from tron_devnet.chain import Chain
from tron_devnet.crypto import keccak256
from tron_devnet.state import BANDWIDTH, ENERGY

# ---------------------------------------------------------------------- builders

BUILDERS = {
    "createtransaction": "TransferContract",
    "createaccount": "AccountCreateContract",
    "freezebalancev2": "FreezeBalanceV2Contract",
    "unfreezebalancev2": "UnfreezeBalanceV2Contract",
    "withdrawexpireunfreeze": "WithdrawExpireUnfreezeContract",
    "delegateresource": "DelegateResourceContract",
    "undelegateresource": "UnDelegateResourceContract",
    "cancelallunfreezev2": "CancelAllUnfreezeV2Contract",
}


def _build(chain: Chain, type_name: str, body: dict[str, Any], visible: bool) -> dict[str, Any]:
    _, fields = protobuf.CONTRACTS[type_name]
    value = {name: body[name] for _, name, _ in fields if name in body}
    extra: dict[str, Any] = {}
    if body.get("extra_data"):
        extra["data"] = body["extra_data"]
    try:
        tx = chain.build_transaction(type_name, value, extra_raw=extra)
    except TxFailure as exc:
        return error("org.tron.core.exception.ContractValidateException", exc.message)
    except protobuf.ProtoError as exc:
        return error("org.tron.core.services.http.JsonFormat$ParseException", str(exc))
    return views.built_transaction(tx, visible)


def _make_builder(type_name: str) -> Handler:
    def handler(chain: Chain, body: dict[str, Any], visible: bool, solid: bool) -> dict[str, Any]:
        return _build(chain, type_name, body, visible)

    return handler


for _name, _type in BUILDERS.items():
    HANDLERS[_name] = _make_builder(_type)


# ---------------------------------------------------------------------- smart contracts


def _call_data(body: dict[str, Any]) -> bytes:
    selector = body.get("function_selector")
    try:
        if selector:
            return usdt.encode_selector_call(str(selector), str(body.get("parameter") or ""))
        return bytes.fromhex(str(body.get("data") or ""))
    except ValueError:
        raise BadRequest(
            error("org.tron.core.services.http.JsonFormat$ParseException", "INVALID hex String")
        ) from None


def _trigger_value(body: dict[str, Any], data: bytes) -> dict[str, Any]:
    value: dict[str, Any] = {
        "owner_address": body.get("owner_address") or "410000000000000000000000000000000000000000",
        "contract_address": body.get("contract_address"),
        "data": data.hex(),
    }
    for key in ("call_value", "call_token_value", "token_id"):
        if body.get(key):
            value[key] = body[key]
    return value


def _result_error(code: str, message: str, visible: bool) -> dict[str, Any]:
    return {"result": {"code": code, "message": text(message, visible)}}


@endpoint("triggersmartcontract")
def trigger_smart_contract(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    if not body.get("owner_address"):
        return _result_error(
            "OTHER_ERROR",
            "class java.security.InvalidParameterException : owner_address isn't set.",
            visible,
        )
    data = _call_data(body)
    fee_limit = body_int(body, "fee_limit")
    try:
        tx = chain.build_transaction(
            "TriggerSmartContract",
            _trigger_value(body, data),
            fee_limit=fee_limit,
            validate=False,
        )
        validate_for_build(
            chain,
            "TriggerSmartContract",
            tx["raw_data"]["contract"][0]["parameter"]["value"],
            fee_limit,
        )
    except TxFailure as exc:
        return _result_error("CONTRACT_VALIDATE_ERROR", exc.message, visible)
    except protobuf.ProtoError as exc:
        return _result_error("OTHER_ERROR", str(exc), visible)
    return {"result": {"result": True}, "transaction": views.built_transaction(tx, visible)}


def _constant(chain: Chain, body: dict[str, Any]) -> tuple[usdt.CallResult | None, bytes]:
    contract = body_address(body, "contract_address")
    if contract != usdt.ADDRESS:
        return None, b""
    owner = body_address(body, "owner_address") or bytes(21)
    data = _call_data(body)
    if body_int(body, "call_value"):
        return usdt.CallResult("REVERT", usdt.REVERT_ENERGY), data
    return chain.usdt.call(owner, data, apply=False), data


@endpoint("triggerconstantcontract")
def trigger_constant_contract(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    result, data = _constant(chain, body)
    if result is None:
        return _result_error("CONTRACT_VALIDATE_ERROR", "Smart contract is not exist.", visible)
    tx = chain.build_transaction("TriggerSmartContract", _trigger_value(body, data), validate=False)
    rendered = {"ret": [{}], **views.built_transaction(tx, visible)}
    out: dict[str, Any] = {"result": {"result": True}}
    if result.status == "REVERT":
        out["result"]["message"] = text("REVERT opcode executed", visible)
        rendered["ret"] = [{"ret": "FAILED"}]
    out["energy_used"] = result.energy
    out["constant_result"] = [result.output.hex()]
    out["transaction"] = rendered
    return out


@endpoint("estimateenergy")
def estimate_energy(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    result, _ = _constant(chain, body)
    if result is None:
        return _result_error("CONTRACT_VALIDATE_ERROR", "Smart contract is not exist.", visible)
    if result.status == "REVERT":
        return _result_error("CONTRACT_EXE_ERROR", "REVERT opcode executed", visible)
    return {"result": {"result": True}, "energy_required": result.energy}


def _contract_json(visible: bool) -> dict[str, Any]:
    return {
        "origin_address": addresses.render(usdt.ORIGIN, visible),
        "contract_address": addresses.render(usdt.ADDRESS, visible),
        "abi": {"entrys": usdt.ABI},
        "bytecode": usdt.BYTECODE,
        "consume_user_resource_percent": 100,
        "name": usdt.CONTRACT_NAME,
        "origin_energy_limit": 10_000_000,
        "code_hash": keccak256(bytes.fromhex(usdt.BYTECODE)).hex(),
    }


@endpoint("getcontract")
def get_contract(chain: Chain, body: dict[str, Any], visible: bool, solid: bool) -> dict[str, Any]:
    if body_address(body, "value") != usdt.ADDRESS:
        return {}
    return _contract_json(visible)


@endpoint("getcontractinfo")
def get_contract_info(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    if body_address(body, "value") != usdt.ADDRESS:
        return {}
    return {
        "smart_contract": _contract_json(visible),
        "runtimecode": usdt.BYTECODE,
        "contract_state": {
            "energy_usage": 0,
            "energy_factor": usdt.ENERGY_FACTOR,
            "update_cycle": chain.head_ts // chain.params["getMaintenanceTimeInterval"],
        },
    }


# ---------------------------------------------------------------------- Stake 2.0 queries


def _resource_type(body: dict[str, Any]) -> int:
    return ENERGY if body_int(body, "type") == 1 else BANDWIDTH


@endpoint("getcandelegatedmaxsize")
def get_can_delegated_max_size(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    addr = body_address(body, "owner_address")
    acct = chain.accounts.get(addr) if addr else None
    if acct is None:
        return {}
    size = can_delegate_max(chain, acct, _resource_type(body))
    return {"max_size": size} if size else {}


@endpoint("getavailableunfreezecount")
def get_available_unfreeze_count(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    addr = body_address(body, "owner_address")
    acct = chain.accounts.get(addr) if addr else None
    if acct is None:
        return {}
    pending = sum(1 for u in acct.unfrozen or [] if u.expire_time > chain.head_ts)
    count = 32 - pending
    return {"count": count} if count else {}


@endpoint("getcanwithdrawunfreezeamount")
def get_can_withdraw_unfreeze_amount(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    addr = body_address(body, "owner_address")
    acct = chain.accounts.get(addr) if addr else None
    if acct is None:
        return {}
    ts = body_int(body, "timestamp") or chain.head_ts
    amount = sum(u.amount for u in acct.unfrozen or [] if u.expire_time <= ts)
    return {"amount": amount} if amount else {}


@endpoint("getdelegatedresourcev2")
def get_delegated_resource_v2(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    owner, receiver = body_address(body, "fromAddress"), body_address(body, "toAddress")
    if owner is None or receiver is None:
        return {}
    entries = []
    for locked in (False, True):
        rec = chain.delegation(owner, receiver, locked)
        if rec is None or not (rec.bandwidth or rec.energy):
            continue
        entry: dict[str, Any] = {
            "from": addresses.render(owner, visible),
            "to": addresses.render(receiver, visible),
        }
        if rec.bandwidth:
            entry["frozen_balance_for_bandwidth"] = rec.bandwidth
        if rec.energy:
            entry["frozen_balance_for_energy"] = rec.energy
        if locked and rec.expire_bandwidth:
            entry["expire_time_for_bandwidth"] = rec.expire_bandwidth
        if locked and rec.expire_energy:
            entry["expire_time_for_energy"] = rec.expire_energy
        entries.append(entry)
    return {"delegatedResource": entries} if entries else {}


@endpoint("getdelegatedresourceaccountindexv2")
def get_delegated_resource_account_index_v2(
    chain: Chain, body: dict[str, Any], visible: bool, solid: bool
) -> dict[str, Any]:
    addr = body_address(body, "value")
    if addr is None:
        return {}
    to = sorted(chain.delegated_to.get(addr, set()))
    frm = sorted(chain.delegated_from.get(addr, set()))
    if not to and not frm and addr not in chain.accounts:
        return {}
    out: dict[str, Any] = {"account": addresses.render(addr, visible)}
    if frm:
        out["fromAccounts"] = [addresses.render(a, visible) for a in frm]
    if to:
        out["toAccounts"] = [addresses.render(a, visible) for a in to]
    return out
