"""What the chain client returns: plain, frozen dataclasses parsed from java-tron's JSON.

java-tron omits fields at their default (0, false, empty), so every parser reads with a
default of zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RESOURCE_ENERGY = "ENERGY"
DEFAULT_WINDOW_MS = 24 * 3600 * 1000
SLOT_MS = 3000
WINDOW_PRECISION = 1000
RESOURCE_BANDWIDTH = "BANDWIDTH"


@dataclass(frozen=True)
class BlockRef:
    number: int
    block_id: str
    timestamp_ms: int


@dataclass(frozen=True)
class ChainParameters:
    energy_fee: int  # sun per energy (getEnergyFee)
    transaction_fee: int  # sun per bandwidth byte (getTransactionFee)
    free_net_limit: int
    create_account_fee: int
    create_new_account_fee_in_system_contract: int
    max_fee_limit: int
    unfreeze_delay_days: int
    total_energy_limit: int

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> ChainParameters:
        values = {p["key"]: int(p.get("value", 0)) for p in payload.get("chainParameter", [])}
        return cls(
            energy_fee=values.get("getEnergyFee", 0),
            transaction_fee=values.get("getTransactionFee", 0),
            free_net_limit=values.get("getFreeNetLimit", 0),
            create_account_fee=values.get("getCreateAccountFee", 0),
            create_new_account_fee_in_system_contract=values.get(
                "getCreateNewAccountFeeInSystemContract", 0
            ),
            max_fee_limit=values.get("getMaxFeeLimit", 0),
            unfreeze_delay_days=values.get("getUnfreezeDelayDays", 0),
            total_energy_limit=values.get("getTotalEnergyLimit", 0),
        )


def _window_ms(account_resource: dict[str, Any]) -> int:
    """`energy_window_size` is in slots, or slots × 1000 when `energy_window_optimized`."""
    size = int(account_resource.get("energy_window_size", 0))
    if not size:
        return DEFAULT_WINDOW_MS
    if account_resource.get("energy_window_optimized"):
        return size * SLOT_MS // WINDOW_PRECISION
    return size * SLOT_MS


@dataclass(frozen=True)
class PendingUnstake:
    resource: str
    amount_sun: int
    expires_at_ms: int


@dataclass(frozen=True)
class AccountState:
    """An account's balance, stake and resources, as the node reports them now."""

    address: str
    exists: bool
    balance_sun: int = 0
    staked_energy_sun: int = 0
    staked_bandwidth_sun: int = 0
    delegated_out_energy_sun: int = 0
    acquired_energy_sun: int = 0
    unstaking: tuple[PendingUnstake, ...] = ()
    energy_limit: int = 0
    energy_used: int = 0
    net_limit: int = 0
    net_used: int = 0
    free_net_limit: int = 0
    free_net_used: int = 0
    total_energy_limit: int = 0
    total_energy_weight: int = 0
    # When the account last consumed energy, and the recovery window its usage then had
    # (Stake 2.0 keeps a per-account window, merged at each use: docs/tron.md, Regeneration).
    energy_consumed_at_ms: int = 0
    energy_window_ms: int = DEFAULT_WINDOW_MS

    @property
    def energy_available(self) -> int:
        return max(0, self.energy_limit - self.energy_used)

    @classmethod
    def parse(cls, address: str, account: dict[str, Any], resource: dict[str, Any]) -> AccountState:
        if not account:
            return cls(address=address, exists=False)
        frozen = {
            entry.get("type", RESOURCE_BANDWIDTH): int(entry.get("amount", 0))
            for entry in account.get("frozenV2", [])
        }
        account_resource = account.get("account_resource", {})
        unstaking = tuple(
            PendingUnstake(
                resource=entry.get("type", RESOURCE_BANDWIDTH),
                amount_sun=int(entry.get("unfreeze_amount", 0)),
                expires_at_ms=int(entry.get("unfreeze_expire_time", 0)),
            )
            for entry in account.get("unfrozenV2", [])
        )
        return cls(
            address=address,
            exists=True,
            balance_sun=int(account.get("balance", 0)),
            staked_energy_sun=frozen.get(RESOURCE_ENERGY, 0),
            staked_bandwidth_sun=frozen.get(RESOURCE_BANDWIDTH, 0),
            delegated_out_energy_sun=int(
                account_resource.get("delegated_frozenV2_balance_for_energy", 0)
            ),
            acquired_energy_sun=int(
                account_resource.get("acquired_delegated_frozenV2_balance_for_energy", 0)
            ),
            unstaking=unstaking,
            energy_limit=int(resource.get("EnergyLimit", 0)),
            energy_used=int(resource.get("EnergyUsed", 0)),
            net_limit=int(resource.get("NetLimit", 0)),
            net_used=int(resource.get("NetUsed", 0)),
            free_net_limit=int(resource.get("freeNetLimit", 0)),
            free_net_used=int(resource.get("freeNetUsed", 0)),
            total_energy_limit=int(resource.get("TotalEnergyLimit", 0)),
            total_energy_weight=int(resource.get("TotalEnergyWeight", 0)),
            energy_consumed_at_ms=int(account_resource.get("latest_consume_time_for_energy", 0)),
            energy_window_ms=_window_ms(account_resource),
        )


@dataclass(frozen=True)
class UnsignedTransaction:
    """A transaction built against the node's head block, ready to be signed.

    `raw` is java-tron's transaction JSON (`txID`, `raw_data`, ...). Persist it, with
    `expiration_ms` and the reference block, before broadcasting.
    """

    txid: str
    raw: dict[str, Any]
    expiration_ms: int
    ref_block_bytes: str
    ref_block_hash: str
    fee_limit_sun: int | None


@dataclass(frozen=True)
class BroadcastResult:
    """`accepted` means the node has the transaction (now, or already: a rebroadcast)."""

    txid: str
    accepted: bool
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class TxReceipt:
    """A transaction's outcome once it is in a block."""

    txid: str
    block_number: int
    block_timestamp_ms: int
    result: str  # receipt.result: SUCCESS, OUT_OF_ENERGY, REVERT, ...
    success: bool
    energy_usage_total: int
    energy_from_stake: int
    energy_fee_sun: int
    net_usage: int
    net_fee_sun: int
    fee_sun: int
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, txid: str, info: dict[str, Any]) -> TxReceipt:
        receipt = info.get("receipt", {})
        result = str(receipt.get("result", "SUCCESS"))
        failed = info.get("result") == "FAILED"
        return cls(
            txid=txid,
            block_number=int(info.get("blockNumber", 0)),
            block_timestamp_ms=int(info.get("blockTimeStamp", 0)),
            result=result,
            success=not failed and result == "SUCCESS",
            energy_usage_total=int(receipt.get("energy_usage_total", 0)),
            energy_from_stake=int(receipt.get("energy_usage", 0)),
            energy_fee_sun=int(receipt.get("energy_fee", 0)),
            net_usage=int(receipt.get("net_usage", 0)),
            net_fee_sun=int(receipt.get("net_fee", 0)),
            fee_sun=int(info.get("fee", 0)),
            raw=info,
        )


@dataclass(frozen=True)
class TxVerdict:
    """One node's view of a transaction, read in a safe order from that node alone: its
    solidified head first, then the solidified receipt, then whether it knows the txid."""

    solid_head: BlockRef
    receipt: TxReceipt | None
    known: bool


@dataclass(frozen=True)
class TrxPayment:
    """A TRX transfer as one node reports it, with its solidified outcome."""

    txid: str
    sender: str
    recipient: str
    amount_sun: int
    solidified: bool
    success: bool
    block_timestamp_ms: int
