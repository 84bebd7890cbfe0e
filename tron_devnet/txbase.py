"""Shared pieces of the actuators: rejection types, the execution record, field helpers.

Messages are java-tron's (``*Actuator.validate``); a broadcast reports them as
``CONTRACT_VALIDATE_ERROR`` "contract validate error : <message>", a builder endpoint as
``{"Error": "class org.tron.core.exception.ContractValidateException : <message>"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tron_devnet import addresses
from tron_devnet.economics import TRX
from tron_devnet.protobuf import RESOURCE_CODES
from tron_devnet.state import ENERGY, Account

if TYPE_CHECKING:
    from tron_devnet.chain import Chain


class Invalid(Exception):
    """A contract validation failure (java-tron ContractValidateException)."""


class TxFailure(Exception):
    """Rejection at broadcast time with a java-tron response code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Execution:
    """What executing one transaction produced (becomes its TransactionInfo)."""

    contract_ret: str = "SUCCESS"
    fee: int = 0
    net_usage: int = 0
    net_fee: int = 0
    energy_usage: int = 0
    energy_fee: int = 0
    energy_total: int = 0
    vm_result: str | None = None
    contract_result: str = ""
    contract_address: str | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    res_message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        """TransactionInfo JSON (hex form; block fields filled when the block is produced)."""
        out: dict[str, Any] = {}
        fee = self.fee + self.net_fee + self.energy_fee
        if fee:
            out["fee"] = fee
        out["blockNumber"] = -1
        out["blockTimeStamp"] = -1
        out["contractResult"] = [self.contract_result]
        if self.contract_address:
            out["contract_address"] = self.contract_address
        receipt: dict[str, Any] = {}
        for key, val in (
            ("energy_usage", self.energy_usage),
            ("energy_fee", self.energy_fee),
            ("energy_usage_total", self.energy_total),
            ("net_usage", self.net_usage),
            ("net_fee", self.net_fee),
        ):
            if val:
                receipt[key] = val
        if self.vm_result:
            receipt["result"] = self.vm_result
        out["receipt"] = receipt
        if self.logs:
            out["log"] = self.logs
        if self.contract_ret != "SUCCESS":
            out["result"] = "FAILED"
        if self.res_message:
            out["resMessage"] = self.res_message.encode().hex()
        out.update(self.extra)
        return out


def field_address(value: dict[str, Any], key: str) -> bytes | None:
    raw = value.get(key)
    if not raw:
        return None
    try:
        return addresses.parse(raw)
    except addresses.AddressError:
        return None


def readable(addr: bytes | None) -> str:
    return addr.hex() if addr else ""


def field_resource(value: dict[str, Any]) -> int:
    res = value.get("resource", "BANDWIDTH")
    if isinstance(res, int):
        return res
    return RESOURCE_CODES.get(str(res), -1)


def field_int(value: dict[str, Any], key: str) -> int:
    raw = value.get(key, 0)
    return int(raw) if raw is not None else 0


def owner_account(chain: Chain, value: dict[str, Any], missing: str) -> Account:
    owner = field_address(value, "owner_address")
    if owner is None:
        raise Invalid("Invalid address")
    acct = chain.accounts.get(owner)
    if acct is None:
        raise Invalid(missing.format(readable(owner)))
    return acct


def _stake_weight(acct: Account, resource: int) -> int:
    if resource == ENERGY:
        return (acct.frozen_energy + acct.delegated_energy) // TRX
    return (acct.frozen_bandwidth + acct.delegated_bandwidth) // TRX


def reweigh(chain: Chain, acct: Account, resource: int, change: Callable[[], None]) -> None:
    """Apply ``change`` and move the network TotalEnergy/NetWeight by the stake difference."""
    before = _stake_weight(acct, resource)
    change()
    delta = _stake_weight(acct, resource) - before
    if resource == ENERGY:
        chain.staked_energy_trx += delta
    else:
        chain.staked_net_trx += delta
