"""Stake 2.0 actuators: FreezeBalanceV2, UnfreezeBalanceV2, WithdrawExpireUnfreeze,
CancelAllUnfreezeV2, DelegateResource and UnDelegateResource (docs/tron.md, Stake 2.0
operations)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tron_devnet import addresses, economics
from tron_devnet.economics import TRX
from tron_devnet.state import (
    BANDWIDTH,
    BLOCK_INTERVAL_MS,
    ENERGY,
    MAX_UNFREEZE_COUNT,
    Account,
    Delegation,
    Unfreeze,
)
from tron_devnet.txbase import (
    Execution,
    Invalid,
    field_address,
    field_int,
    field_resource,
    owner_account,
    readable,
    reweigh,
)

if TYPE_CHECKING:
    from tron_devnet.chain import Chain

DAY_MS = 86_400_000
DEFAULT_LOCK_PERIOD = 86_400  # blocks (3 days), DelegateResourceActuator default


def validate_freeze(chain: Chain, value: dict[str, Any]) -> None:
    acct = owner_account(chain, value, "Account[{}] not exists")
    amount = field_int(value, "frozen_balance")
    if amount <= 0:
        raise Invalid("frozenBalance must be positive")
    if amount < TRX:
        raise Invalid("frozenBalance must be greater than or equal to 1 TRX")
    if amount > acct.balance:
        raise Invalid("frozenBalance must be less than or equal to accountBalance")
    if field_resource(value) not in (BANDWIDTH, ENERGY):
        raise Invalid("ResourceCode error, valid ResourceCode[BANDWIDTH、ENERGY]")


def apply_freeze(chain: Chain, value: dict[str, Any], exe: Execution) -> None:
    acct = chain.accounts[addresses.parse(value["owner_address"])]
    amount = field_int(value, "frozen_balance")
    resource = field_resource(value)

    def change() -> None:
        acct.balance -= amount
        if resource == ENERGY:
            acct.frozen_energy += amount
        else:
            acct.frozen_bandwidth += amount

    reweigh(chain, acct, resource, change)


def _withdraw_matured(chain: Chain, acct: Account) -> int:
    if not acct.unfrozen:
        return 0
    now = chain.exec_ts
    matured = sum(u.amount for u in acct.unfrozen if u.expire_time <= now)
    if matured:
        acct.unfrozen = [u for u in acct.unfrozen if u.expire_time > now] or None
        acct.balance += matured
    return matured


def validate_unfreeze(chain: Chain, value: dict[str, Any]) -> None:
    acct = owner_account(chain, value, "Account[{}] does not exist")
    resource = field_resource(value)
    if resource == ENERGY:
        frozen = acct.frozen_energy
        if frozen <= 0:
            raise Invalid("no frozenBalance(Energy)")
    elif resource == BANDWIDTH:
        frozen = acct.frozen_bandwidth
        if frozen <= 0:
            raise Invalid("no frozenBalance(BANDWIDTH)")
    else:
        raise Invalid("ResourceCode error.valid ResourceCode[BANDWIDTH、Energy]")
    amount = field_int(value, "unfreeze_balance")
    if amount <= 0 or amount > frozen:
        raise Invalid(f"Invalid unfreeze_balance, [{amount}] is error")
    pending = sum(1 for u in acct.unfrozen or [] if u.expire_time > chain.exec_ts)
    if pending >= MAX_UNFREEZE_COUNT:
        raise Invalid("Invalid unfreeze operation, unfreezing times is over limit")


def apply_unfreeze(chain: Chain, value: dict[str, Any], exe: Execution) -> None:
    acct = chain.accounts[addresses.parse(value["owner_address"])]
    amount = field_int(value, "unfreeze_balance")
    resource = field_resource(value)
    withdrawn = _withdraw_matured(chain, acct)
    if withdrawn:
        exe.extra["withdraw_expire_amount"] = withdrawn

    def change() -> None:
        if resource == ENERGY:
            acct.frozen_energy -= amount
        else:
            acct.frozen_bandwidth -= amount

    reweigh(chain, acct, resource, change)
    expire = chain.exec_ts + chain.params["getUnfreezeDelayDays"] * DAY_MS
    acct.unfrozen = (acct.unfrozen or []) + [Unfreeze(resource, amount, expire)]


def validate_withdraw(chain: Chain, value: dict[str, Any]) -> None:
    acct = owner_account(chain, value, "Account[{}] not exists")
    if not any(u.expire_time <= chain.exec_ts for u in acct.unfrozen or []):
        raise Invalid("no unFreeze balance to withdraw ")


def apply_withdraw(chain: Chain, value: dict[str, Any], exe: Execution) -> None:
    acct = chain.accounts[addresses.parse(value["owner_address"])]
    exe.extra["withdraw_expire_amount"] = _withdraw_matured(chain, acct)


def validate_cancel_unfreeze(chain: Chain, value: dict[str, Any]) -> None:
    acct = owner_account(chain, value, "Account[{}] not exists")
    if not acct.unfrozen:
        raise Invalid("No unfreezeV2 list to cancel")


def apply_cancel_unfreeze(chain: Chain, value: dict[str, Any], exe: Execution) -> None:
    acct = chain.accounts[addresses.parse(value["owner_address"])]
    withdrawn = _withdraw_matured(chain, acct)
    cancelled = {BANDWIDTH: 0, ENERGY: 0}
    for u in acct.unfrozen or []:
        cancelled[u.resource] = cancelled.get(u.resource, 0) + u.amount
    acct.unfrozen = None
    for resource, amount in cancelled.items():
        if not amount:
            continue

        def change(resource: int = resource, amount: int = amount) -> None:
            if resource == ENERGY:
                acct.frozen_energy += amount
            else:
                acct.frozen_bandwidth += amount

        reweigh(chain, acct, resource, change)
    if withdrawn:
        exe.extra["withdraw_expire_amount"] = withdrawn
    exe.extra["cancel_unfreezeV2_amount"] = [
        {"key": "BANDWIDTH", "value": cancelled[BANDWIDTH]},
        {"key": "ENERGY", "value": cancelled[ENERGY]},
        {"key": "TRON_POWER", "value": 0},
    ]


def can_delegate_max(chain: Chain, acct: Account, resource: int) -> int:
    """``getcandelegatedmaxsize`` / DelegateResourceActuator's limit (java-tron FreezeV2Util).

    The recovered usage is converted to staked sun at the network ratio; stake acquired from
    others backs it first, only the rest is taken out of the account's own V2 stake.
    """
    slot = chain.exec_slot
    if resource == ENERGY:
        frozen = acct.frozen_energy
        acquired = acct.acquired_energy
        used = economics.energy_used_now(acct, slot)
        ratio = chain.energy_weight() / chain.params["getTotalEnergyCurrentLimit"]
    else:
        frozen = acct.frozen_bandwidth
        acquired = acct.acquired_bandwidth
        used = economics.net_used_now(acct, slot)
        ratio = chain.net_weight() / chain.params["getTotalNetLimit"]
    usage_sun = int(used * TRX * ratio)
    v2_usage = max(0, usage_sun - acquired)
    return max(0, frozen - v2_usage)


def validate_delegate(chain: Chain, value: dict[str, Any]) -> None:
    acct = owner_account(chain, value, "Account[{}] not exists")
    resource = field_resource(value)
    if resource not in (BANDWIDTH, ENERGY):
        raise Invalid("ResourceCode error, valid ResourceCode[BANDWIDTH、ENERGY]")
    balance = field_int(value, "balance")
    if balance < TRX:
        raise Invalid("delegateBalance must be greater than or equal to 1 TRX")
    if balance > can_delegate_max(chain, acct, resource):
        name = "FreezeEnergyV2" if resource == ENERGY else "FreezeBandwidthV2"
        raise Invalid(f"delegateBalance must be less than or equal to available {name} balance")
    receiver = field_address(value, "receiver_address")
    if receiver is None:
        raise Invalid("Invalid receiverAddress")
    if receiver == acct.address:
        raise Invalid("receiverAddress must not be the same as ownerAddress")
    recv = chain.accounts.get(receiver)
    if recv is None:
        raise Invalid(f"Account[{readable(receiver)}] not exists")
    if recv.is_contract:
        raise Invalid("Do not allow delegate resources to contract addresses")
    if value.get("lock"):
        max_period = chain.params["getMaxDelegateLockPeriod"]
        period = field_int(value, "lock_period") or DEFAULT_LOCK_PERIOD
        if period < 0 or period > max_period:
            raise Invalid(
                "The lock period of delegate resource cannot be less than 0 and cannot exceed "
                f"{max_period}!"
            )
        existing = chain.delegation(acct.address, receiver, True)
        if existing is not None:
            expire = existing.expire_energy if resource == ENERGY else existing.expire_bandwidth
            remain = expire - chain.exec_ts
            if remain > period * BLOCK_INTERVAL_MS:
                name = "ENERGY" if resource == ENERGY else "BANDWIDTH"
                raise Invalid(
                    f"The lock period for {name} this time cannot be less than the remaining "
                    f"time[{remain}ms] of the last lock period for {name}!"
                )


def apply_delegate(chain: Chain, value: dict[str, Any], exe: Execution) -> None:
    owner = chain.accounts[addresses.parse(value["owner_address"])]
    receiver = chain.accounts[addresses.parse(value["receiver_address"])]
    resource = field_resource(value)
    balance = field_int(value, "balance")
    locked = bool(value.get("lock"))
    record = chain.delegation(owner.address, receiver.address, locked)
    if record is None:
        record = Delegation(owner.address, receiver.address, locked)
        chain.put_delegation(record)
    expire = 0
    if locked:
        expire = (
            chain.exec_ts
            + (field_int(value, "lock_period") or DEFAULT_LOCK_PERIOD) * BLOCK_INTERVAL_MS
        )
    if resource == ENERGY:
        owner.frozen_energy -= balance
        owner.delegated_energy += balance
        receiver.acquired_energy += balance
        record.energy += balance
        if locked:
            record.expire_energy = expire
    else:
        owner.frozen_bandwidth -= balance
        owner.delegated_bandwidth += balance
        receiver.acquired_bandwidth += balance
        record.bandwidth += balance
        if locked:
            record.expire_bandwidth = expire


def _undelegatable(chain: Chain, owner: bytes, receiver: bytes, resource: int) -> int:
    """Unlocked amount owner → receiver: the unlocked record plus an expired lock."""
    total = 0
    for locked in (False, True):
        rec = chain.delegation(owner, receiver, locked)
        if rec is None:
            continue
        amount = rec.energy if resource == ENERGY else rec.bandwidth
        expire = rec.expire_energy if resource == ENERGY else rec.expire_bandwidth
        if not locked or expire < chain.exec_ts:
            total += amount
    return total


def validate_undelegate(chain: Chain, value: dict[str, Any]) -> None:
    """UnDelegateResourceActuator.validate, in java-tron's order and wording."""
    acct = owner_account(chain, value, "Account[{}] does not exist")
    receiver = field_address(value, "receiver_address")
    if receiver is None:
        raise Invalid("Invalid receiverAddress")
    if receiver == acct.address:
        raise Invalid("receiverAddress must not be the same as ownerAddress")
    if (
        chain.delegation(acct.address, receiver, False) is None
        and chain.delegation(acct.address, receiver, True) is None
    ):
        raise Invalid("delegated Resource does not exist")
    balance = field_int(value, "balance")
    if balance <= 0:
        raise Invalid("unDelegateBalance must be more than 0 TRX")
    resource = field_resource(value)
    if resource not in (BANDWIDTH, ENERGY):
        raise Invalid("ResourceCode error.valid ResourceCode[BANDWIDTH、Energy]")
    available = _undelegatable(chain, acct.address, receiver, resource)
    if available < balance:
        # sic: java-tron spells the two messages differently
        name = (
            "delegateFrozenBalance(Energy)"
            if resource == ENERGY
            else ("delegatedFrozenBalance(BANDWIDTH)")
        )
        raise Invalid(f"insufficient {name}, request={balance}, unlock_balance={available}")


def apply_undelegate(chain: Chain, value: dict[str, Any], exe: Execution) -> None:
    owner = chain.accounts[addresses.parse(value["owner_address"])]
    receiver_addr = addresses.parse(value["receiver_address"])
    resource = field_resource(value)
    balance = field_int(value, "balance")
    left = balance
    for locked in (False, True):  # unlocked first, then expired locks
        rec = chain.delegation(owner.address, receiver_addr, locked)
        if rec is None or left == 0:
            continue
        if resource == ENERGY:
            if locked and rec.expire_energy >= chain.exec_ts:
                continue
            take = min(rec.energy, left)
            rec.energy -= take
        else:
            if locked and rec.expire_bandwidth >= chain.exec_ts:
                continue
            take = min(rec.bandwidth, left)
            rec.bandwidth -= take
        left -= take
        chain.drop_delegation_if_empty(rec)
    slot = chain.exec_slot
    receiver = chain.accounts.get(receiver_addr)
    transfer = 0
    if resource == ENERGY:
        if receiver is not None:
            used = economics.energy_used_now(receiver, slot)
            all_frozen = receiver.frozen_energy + receiver.acquired_energy
            transfer = int(used * (balance / all_frozen)) if all_frozen else 0
            max_usage = int(
                balance
                // TRX
                * (chain.params["getTotalEnergyCurrentLimit"] / chain.energy_weight())
            )
            transfer = min(transfer, max_usage)
            receiver.energy_usage = used - transfer
            receiver.latest_consume_time_for_energy = slot
            receiver.acquired_energy -= balance
        owner.delegated_energy -= balance
        owner.frozen_energy += balance
        if transfer:
            economics.use_energy(owner, transfer, slot)
    else:
        if receiver is not None:
            used = economics.net_used_now(receiver, slot)
            all_frozen = receiver.frozen_bandwidth + receiver.acquired_bandwidth
            transfer = int(used * (balance / all_frozen)) if all_frozen else 0
            max_usage = int(
                balance // TRX * (chain.params["getTotalNetLimit"] / chain.net_weight())
            )
            transfer = min(transfer, max_usage)
            receiver.net_usage = used - transfer
            receiver.latest_consume_time = slot
            receiver.acquired_bandwidth -= balance
        owner.delegated_bandwidth -= balance
        owner.frozen_bandwidth += balance
        if transfer:
            economics.use_net(owner, transfer, slot)
