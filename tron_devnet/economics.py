"""Resource model (docs/tron.md): chain parameters, staking limits, 24-h linear recovery.

The recovery arithmetic follows java-tron ``ResourceProcessor.increase`` (Stake 2.0 variant with a
per-account window kept in slots * 1000): usage is stored as an average over the window with
``PRECISION`` 1e6, decays linearly with elapsed slots, and new usage merges the remaining window.
"""

from __future__ import annotations

import math

from tron_devnet.state import WINDOW_PRECISION, WINDOW_SLOTS, Account

PRECISION = 1_000_000
TRX = 1_000_000

# java-tron chain parameters (``wallet/getchainparameters`` keys) with mainnet-like values.
DEFAULT_PARAMS: dict[str, int] = {
    "getMaintenanceTimeInterval": 21_600_000,
    "getAccountUpgradeCost": 9_999_000_000,
    "getCreateAccountFee": 100_000,
    "getTransactionFee": 1000,
    "getAssetIssueFee": 1_024_000_000,
    "getWitnessPayPerBlock": 8_000_000,
    "getWitnessStandbyAllowance": 115_200_000_000,
    "getCreateNewAccountFeeInSystemContract": 1_000_000,
    "getCreateNewAccountBandwidthRate": 1,
    "getAllowCreationOfContracts": 1,
    "getRemoveThePowerOfTheGr": -1,
    "getEnergyFee": 100,
    "getExchangeCreateFee": 1_024_000_000,
    "getMaxCpuTimeOfOneTx": 80,
    "getAllowUpdateAccountName": 0,
    "getAllowSameTokenName": 1,
    "getAllowDelegateResource": 1,
    "getTotalEnergyLimit": 180_000_000_000,
    "getAllowTvmTransferTrc10": 1,
    "getTotalEnergyCurrentLimit": 180_000_000_000,
    "getAllowMultiSign": 1,
    "getAllowAdaptiveEnergy": 0,
    "getTotalEnergyTargetLimit": 6_250_000,
    "getTotalEnergyAverageUsage": 0,
    "getUpdateAccountPermissionFee": 100_000_000,
    "getMultiSignFee": 1_000_000,
    "getAllowAccountStateRoot": 0,
    "getAllowProtoFilterNum": 0,
    "getAllowTvmConstantinople": 1,
    "getAllowTvmSolidity059": 1,
    "getAllowTvmIstanbul": 1,
    "getAllowShieldedTRC20Transaction": 1,
    "getForbidTransferToContract": 0,
    "getAdaptiveResourceLimitTargetRatio": 10,
    "getAdaptiveResourceLimitMultiplier": 1000,
    "getChangeDelegation": 1,
    "getWitness127PayPerBlock": 160_000_000,
    "getAllowMarketTransaction": 0,
    "getMarketSellFee": 0,
    "getMarketCancelFee": 0,
    "getAllowPBFT": 0,
    "getAllowTransactionFeePool": 0,
    "getMaxFeeLimit": 15_000_000_000,
    "getAllowOptimizeBlackHole": 1,
    "getAllowNewResourceModel": 1,
    "getAllowTvmFreeze": 1,
    "getAllowTvmVote": 1,
    "getAllowTvmLondon": 1,
    "getAllowTvmCompatibleEvm": 0,
    "getAllowAccountAssetOptimization": 0,
    "getFreeNetLimit": 600,
    "getTotalNetLimit": 43_200_000_000,
    "getAllowHigherLimitForMaxCpuTimeOfOneTx": 1,
    "getAllowAssetOptimization": 1,
    "getAllowNewReward": 1,
    "getMemoFee": 1_000_000,
    "getAllowDelegateOptimization": 1,
    "getUnfreezeDelayDays": 14,
    "getAllowOptimizedReturnValueOfChainId": 1,
    "getAllowDynamicEnergy": 1,
    "getDynamicEnergyThreshold": 5_000_000_000,
    "getDynamicEnergyIncreaseFactor": 2000,
    "getDynamicEnergyMaxFactor": 34_000,
    "getAllowTvmShangHai": 1,
    "getAllowCancelAllUnfreezeV2": 1,
    "getMaxDelegateLockPeriod": 864_000,
    "getAllowEnergyAdjustment": 1,
    "getMaxCreateAccountTxSize": 1000,
}

# Devnet-only parameters (not listed by getchainparameters): the network-wide staked weight, in
# whole TRX, that the devnet's own stakes are added to. 19e9 TRX → ~9.47 energy per staked TRX per
# day with the 180e9 daily limit, like mainnet (docs/tron.md, Staking).
DEVNET_PARAMS: dict[str, int] = {
    "totalEnergyWeight": 19_000_000_000,
    "totalNetWeight": 30_000_000_000,
}


def default_params() -> dict[str, int]:
    return {**DEFAULT_PARAMS, **DEVNET_PARAMS}


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def recovered(usage: int, last_slot: int, now_slot: int, window_mslots: int) -> int:
    """Usage left at ``now_slot`` of ``usage`` recorded at ``last_slot`` (linear decay)."""
    if usage <= 0:
        return 0
    window = max(1, window_mslots // WINDOW_PRECISION)  # AccountCapsule.getWindowSize
    delta = now_slot - last_slot
    if delta <= 0:
        return usage
    if delta >= window:
        return 0
    average = ceil_div(usage * PRECISION, window)
    average = math.floor(average * ((window - delta) / window) + 0.5)  # Java Math.round
    return average * window // PRECISION


def increase(
    usage: int, last_slot: int, window_mslots: int, add: int, now_slot: int
) -> tuple[int, int]:
    """Merge ``add`` new usage at ``now_slot``: returns (new usage, new window in slots*1000).

    Stake 2.0 keeps a per-account window: ``newWindow = (remainWindow*remain + 28800*add) /
    (remain + add)`` so the old usage keeps its own recovery progress (docs/tron.md, Regeneration).
    """
    remain = recovered(usage, last_slot, now_slot, window_mslots)
    new_usage = remain + add
    if remain == 0 or new_usage == 0:
        return new_usage, WINDOW_SLOTS * WINDOW_PRECISION
    remain_window = max(0, window_mslots - (now_slot - last_slot) * WINDOW_PRECISION)
    new_window = ceil_div(remain * remain_window + add * WINDOW_SLOTS * WINDOW_PRECISION, new_usage)
    return new_usage, min(new_window, WINDOW_SLOTS * WINDOW_PRECISION)


def energy_weight(params: dict[str, int], staked_trx: int) -> int:
    """TotalEnergyWeight in whole TRX: configured network weight + stakes made on the devnet."""
    return max(1, params["totalEnergyWeight"] + staked_trx)


def net_weight(params: dict[str, int], staked_trx: int) -> int:
    return max(1, params["totalNetWeight"] + staked_trx)


def limit_from_stake(frozen_sun: int, total_limit: int, total_weight: int) -> int:
    """java-tron ``calculateGlobalEnergyLimit``/``calculateGlobalNetLimit``."""
    if frozen_sun < TRX:
        return 0
    weight = frozen_sun // TRX
    return int(weight * (total_limit / total_weight))


def energy_limit(acct: Account, params: dict[str, int], weight: int) -> int:
    return limit_from_stake(
        acct.frozen_energy + acct.acquired_energy, params["getTotalEnergyCurrentLimit"], weight
    )


def net_limit(acct: Account, params: dict[str, int], weight: int) -> int:
    return limit_from_stake(
        acct.frozen_bandwidth + acct.acquired_bandwidth, params["getTotalNetLimit"], weight
    )


def energy_used_now(acct: Account, now_slot: int) -> int:
    return recovered(
        acct.energy_usage, acct.latest_consume_time_for_energy, now_slot, acct.energy_window
    )


def net_used_now(acct: Account, now_slot: int) -> int:
    return recovered(acct.net_usage, acct.latest_consume_time, now_slot, acct.net_window)


def free_net_used_now(acct: Account, now_slot: int) -> int:
    return recovered(
        acct.free_net_usage,
        acct.latest_consume_free_time,
        now_slot,
        WINDOW_SLOTS * WINDOW_PRECISION,
    )


def use_energy(acct: Account, amount: int, now_slot: int) -> None:
    acct.energy_usage, acct.energy_window = increase(
        acct.energy_usage,
        acct.latest_consume_time_for_energy,
        acct.energy_window,
        amount,
        now_slot,
    )
    acct.latest_consume_time_for_energy = now_slot


def use_net(acct: Account, amount: int, now_slot: int) -> None:
    acct.net_usage, acct.net_window = increase(
        acct.net_usage, acct.latest_consume_time, acct.net_window, amount, now_slot
    )
    acct.latest_consume_time = now_slot


def use_free_net(acct: Account, amount: int, now_slot: int) -> None:
    acct.free_net_usage, _ = increase(
        acct.free_net_usage,
        acct.latest_consume_free_time,
        WINDOW_SLOTS * WINDOW_PRECISION,
        amount,
        now_slot,
    )
    acct.latest_consume_free_time = now_slot


def energy_fee_limit(
    left_frozen_energy: int, balance: int, call_value: int, fee_limit: int, sun_per_energy: int
) -> int:
    """VMActuator.getAccountEnergyLimitWithFixRatio (docs/tron.md, fee_limit)."""
    sun_per_energy = max(1, sun_per_energy)
    from_balance = max(balance - call_value, 0) // sun_per_energy
    from_fee_limit = fee_limit // sun_per_energy
    return min(left_frozen_energy + from_balance, from_fee_limit)
