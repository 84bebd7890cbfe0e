"""Contract actuators: validate + execute each supported contract, charging bandwidth and energy.

TransferContract, AccountCreateContract and TriggerSmartContract (the built-in USDT) live here,
Stake 2.0 in :mod:`tron_devnet.stake`; shared types in :mod:`tron_devnet.txbase`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tron_devnet import addresses, economics, usdt
from tron_devnet.stake import (
    apply_cancel_unfreeze,
    apply_delegate,
    apply_freeze,
    apply_undelegate,
    apply_unfreeze,
    apply_withdraw,
    can_delegate_max,
    validate_cancel_unfreeze,
    validate_delegate,
    validate_freeze,
    validate_undelegate,
    validate_unfreeze,
    validate_withdraw,
)
from tron_devnet.state import Account
from tron_devnet.txbase import (
    Execution,
    Invalid,
    TxFailure,
    field_address,
    field_int,
    owner_account,
)

if TYPE_CHECKING:
    from tron_devnet.chain import Chain

__all__ = ["Execution", "TxFailure", "can_delegate_max", "execute_contract", "validate_for_build"]


# ---------------------------------------------------------------------- TransferContract


def validate_transfer(chain: Chain, value: dict[str, Any]) -> None:
    owner = field_address(value, "owner_address")
    to = field_address(value, "to_address")
    if owner is None:
        raise Invalid("Invalid ownerAddress!")
    if to is None:
        raise Invalid("Invalid toAddress!")
    if owner == to:
        raise Invalid("Cannot transfer TRX to yourself.")
    acct = chain.accounts.get(owner)
    if acct is None:
        raise Invalid("Validate TransferContract error, no OwnerAccount.")
    amount = field_int(value, "amount")
    if amount <= 0:
        raise Invalid("Amount must be greater than 0.")
    to_acct = chain.accounts.get(to)
    fee = 0
    if to_acct is None:
        fee = chain.params["getCreateNewAccountFeeInSystemContract"]
    elif to_acct.is_contract and chain.params["getForbidTransferToContract"]:
        raise Invalid("Cannot transfer TRX to a smartContract.")
    if acct.balance < amount + fee:
        raise Invalid("Validate TransferContract error, balance is not sufficient.")


def apply_transfer(chain: Chain, value: dict[str, Any], exe: Execution) -> None:
    owner = chain.accounts[addresses.parse(value["owner_address"])]
    to_addr = addresses.parse(value["to_address"])
    amount = field_int(value, "amount")
    fee = 0
    if to_addr not in chain.accounts:
        fee = chain.params["getCreateNewAccountFeeInSystemContract"]
    to = chain.get_or_create(to_addr, chain.exec_ts)
    owner.balance -= amount + fee
    to.balance += amount
    exe.fee += fee


def validate_account_create(chain: Chain, value: dict[str, Any]) -> None:
    acct = owner_account(chain, value, "Account[{}] not exists")
    target = field_address(value, "account_address")
    if target is None:
        raise Invalid("Invalid account address")
    if target in chain.accounts:
        raise Invalid("Account has existed")
    if acct.balance < chain.params["getCreateNewAccountFeeInSystemContract"]:
        raise Invalid("Validate CreateAccountActuator error, insufficient fee.")


def apply_account_create(chain: Chain, value: dict[str, Any], exe: Execution) -> None:
    owner = chain.accounts[addresses.parse(value["owner_address"])]
    fee = chain.params["getCreateNewAccountFeeInSystemContract"]
    owner.balance -= fee
    exe.fee += fee
    chain.get_or_create(addresses.parse(value["account_address"]), chain.exec_ts)


# ---------------------------------------------------------------------- TriggerSmartContract


def validate_trigger(chain: Chain, value: dict[str, Any], fee_limit: int = 0) -> None:
    contract = field_address(value, "contract_address")
    if contract != usdt.ADDRESS:
        raise Invalid("No contract or not a valid smart contract")
    max_fee = chain.params["getMaxFeeLimit"]
    if fee_limit < 0 or fee_limit > max_fee:
        raise Invalid(f"feeLimit must be >= 0 and <= {max_fee}")
    if field_int(value, "call_value") < 0:
        raise Invalid("callValue must be >= 0")


def apply_trigger(chain: Chain, value: dict[str, Any], fee_limit: int, exe: Execution) -> None:
    """Run the USDT call under the VMActuator energy cap; charge stake first, then burn TRX."""
    owner = chain.accounts[addresses.parse(value["owner_address"])]
    data = bytes.fromhex(value.get("data", "") or "")
    call_value = field_int(value, "call_value")
    energy_fee = chain.params["getEnergyFee"]
    left = chain.left_energy(owner)
    limit = economics.energy_fee_limit(left, owner.balance, call_value, fee_limit, energy_fee)
    preview = chain.usdt.call(owner.address, data, apply=False)
    if call_value:
        preview = usdt.CallResult("REVERT", usdt.REVERT_ENERGY)  # USDT is not payable
    exe.contract_address = usdt.ADDRESS.hex()
    if preview.energy > limit:
        used = limit
        exe.vm_result = exe.contract_ret = "OUT_OF_ENERGY"
        exe.res_message = (
            "Not enough energy for 'SSTORE' operation executing: "
            f"curInvokeEnergyLimit[{limit}], curOpEnergy[20000], "
            f"usedEnergy[{max(0, min(limit, preview.energy - 20000))}]"
        )
    elif preview.status == "REVERT":
        used = preview.energy
        exe.vm_result = exe.contract_ret = "REVERT"
        exe.res_message = "REVERT opcode executed"
    else:
        result = chain.usdt.call(owner.address, data, apply=True)
        used = result.energy
        exe.vm_result = exe.contract_ret = "SUCCESS"
        exe.contract_result = result.output.hex()
        exe.logs = [
            {
                "address": usdt.ADDRESS[1:].hex(),
                "topics": [t.hex() for t in log.topics],
                "data": log.data.hex(),
            }
            for log in result.logs
        ]
    from_stake = min(left, used)
    burn = (used - from_stake) * energy_fee
    if from_stake:
        economics.use_energy(owner, from_stake, chain.exec_slot)
    owner.balance -= burn
    exe.energy_usage = from_stake
    exe.energy_fee = burn
    exe.energy_total = used


# ---------------------------------------------------------------------- dispatch

Validator = Callable[["Chain", dict[str, Any]], None]
Applier = Callable[["Chain", dict[str, Any], Execution], None]

SYSTEM: dict[str, tuple[Validator, Applier]] = {
    "TransferContract": (validate_transfer, apply_transfer),
    "AccountCreateContract": (validate_account_create, apply_account_create),
    "FreezeBalanceV2Contract": (validate_freeze, apply_freeze),
    "UnfreezeBalanceV2Contract": (validate_unfreeze, apply_unfreeze),
    "WithdrawExpireUnfreezeContract": (validate_withdraw, apply_withdraw),
    "CancelAllUnfreezeV2Contract": (validate_cancel_unfreeze, apply_cancel_unfreeze),
    "DelegateResourceContract": (validate_delegate, apply_delegate),
    "UnDelegateResourceContract": (validate_undelegate, apply_undelegate),
}


def validate_for_build(
    chain: Chain, type_name: str, value: dict[str, Any], fee_limit: int = 0
) -> None:
    """Builder endpoints validate before returning the transaction (raises TxFailure "BUILD")."""
    try:
        if type_name == "TriggerSmartContract":
            validate_trigger(chain, value, fee_limit)
        elif type_name in SYSTEM:
            SYSTEM[type_name][0](chain, value)
        else:
            raise Invalid(f"contract type {type_name} is not supported by the devnet")
    except Invalid as exc:
        raise TxFailure("BUILD", str(exc)) from None


def _consume_bandwidth(
    chain: Chain, owner: Account, type_name: str, value: dict[str, Any], size: int, exe: Execution
) -> None:
    """BandwidthProcessor.consume: stake → free 600 → burn, each all-or-nothing for ``size``."""
    slot = chain.exec_slot
    net_left = chain.net_limit(owner) - economics.net_used_now(owner, slot)
    creates_account = False
    if type_name == "TransferContract":
        to = field_address(value, "to_address")
        creates_account = to is not None and to not in chain.accounts
    elif type_name == "AccountCreateContract":
        creates_account = True
    if creates_account:
        if net_left >= size * chain.params["getCreateNewAccountBandwidthRate"]:
            economics.use_net(owner, size, slot)
            exe.net_usage = size
            return
        fee = chain.params["getCreateAccountFee"]
    else:
        if net_left >= size:
            economics.use_net(owner, size, slot)
            exe.net_usage = size
            return
        free_left = chain.params["getFreeNetLimit"] - economics.free_net_used_now(owner, slot)
        if free_left >= size:
            economics.use_free_net(owner, size, slot)
            exe.net_usage = size
            return
        fee = size * chain.params["getTransactionFee"]
    if owner.balance < fee:
        raise TxFailure("BANDWITH_ERROR", "AccountResourceInsufficient error")
    owner.balance -= fee
    exe.net_fee = fee


def execute_contract(
    chain: Chain, type_name: str, value: dict[str, Any], raw: dict[str, Any], size: int
) -> Execution:
    """Charge bandwidth (and memo fee), validate, execute. Raises TxFailure on rejection."""
    owner_addr = field_address(value, "owner_address")
    owner = chain.accounts.get(owner_addr) if owner_addr else None
    if owner is None:
        raise TxFailure(
            "CONTRACT_VALIDATE_ERROR",
            "contract validate error : account "
            f"[{addresses.to_base58(owner_addr) if owner_addr else ''}] does not exist",
        )
    exe = Execution()
    _consume_bandwidth(chain, owner, type_name, value, size, exe)
    memo_fee = chain.params["getMemoFee"]
    if raw.get("data") and memo_fee > 0:
        if owner.balance < memo_fee:
            raise TxFailure("BANDWITH_ERROR", "AccountResourceInsufficient error")
        owner.balance -= memo_fee
        exe.fee += memo_fee
    fee_limit = int(raw.get("fee_limit", 0))
    try:
        if type_name == "TriggerSmartContract":
            validate_trigger(chain, value, fee_limit)
        elif type_name in SYSTEM:
            SYSTEM[type_name][0](chain, value)
        else:
            raise Invalid(f"contract type {type_name} is not supported by the devnet")
    except Invalid as exc:
        raise TxFailure("CONTRACT_VALIDATE_ERROR", f"contract validate error : {exc}") from None
    if type_name == "TriggerSmartContract":
        apply_trigger(chain, value, fee_limit, exe)
    else:
        SYSTEM[type_name][1](chain, value, exe)
    owner.latest_opration_time = chain.exec_ts
    return exe
