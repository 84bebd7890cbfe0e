"""Stake 2.0 through tronpy: energy limits, 24-h recovery, delegation with lock, 14-day unstake."""

from __future__ import annotations

import httpx
import pytest
from tronpy import Tron
from tronpy.exceptions import ValidationError

from tron_devnet.testing import RunningDevnet
from tron_devnet.tests.helpers import TRX, USDT, new_account, send

TOTAL_ENERGY_LIMIT = 180_000_000_000
NETWORK_WEIGHT = 19_000_000_000  # whole TRX, the devnet's default TotalEnergyWeight
DAY = 24 * 3600
WARM = 64_285


def by_hand_limit(staked_trx: int, total_weight: int) -> int:
    """EnergyLimit = floor(staked TRX * TotalEnergyLimit / TotalEnergyWeight) (tron.md §1.3)."""
    return staked_trx * TOTAL_ENERGY_LIMIT // total_weight


def test_freeze_gives_energy_by_the_formula(client: Tron, devnet: RunningDevnet) -> None:
    key, owner = new_account(devnet, 20_000)
    info = send(devnet, client.trx.freeze_balance(owner, 10_000 * TRX, "ENERGY"), key)
    assert "result" not in info
    account = client.get_account(owner)
    assert account["frozenV2"][1] == {"type": "ENERGY", "amount": 10_000 * TRX}
    assert account["balance"] == 10_000 * TRX  # bandwidth came from the free allowance
    res = client.get_account_resource(owner)
    assert res["TotalEnergyWeight"] == NETWORK_WEIGHT + 10_000
    assert res["EnergyLimit"] == by_hand_limit(10_000, NETWORK_WEIGHT + 10_000) == 94_736
    assert res["tronPowerLimit"] == 10_000
    # ~9.5 energy per staked TRX per day at the default network weight
    assert 9.4 < res["EnergyLimit"] / 10_000 < 9.5
    send(devnet, client.trx.freeze_balance(owner, 100 * TRX, "BANDWIDTH"), key)
    res = client.get_account_resource(owner)
    assert res["NetLimit"] == 100 * 43_200_000_000 // (30_000_000_000 + 100)


def test_freeze_validation(client: Tron, devnet: RunningDevnet) -> None:
    key, owner = new_account(devnet, 10)
    with pytest.raises(ValidationError, match="frozenBalance must be less than or equal"):
        send(devnet, client.trx.freeze_balance(owner, 50 * TRX, "ENERGY"), key)
    with pytest.raises(ValidationError, match="greater than or equal to 1 TRX"):
        send(devnet, client.trx.freeze_balance(owner, TRX // 2, "ENERGY"), key)


def test_half_of_used_energy_recovers_in_12_hours(client: Tron, devnet: RunningDevnet) -> None:
    key, owner = new_account(devnet, 20_000)
    _, receiver = new_account(devnet)
    devnet.mint(owner, 10)
    devnet.mint(receiver, 1)
    send(devnet, client.trx.freeze_balance(owner, 10_000 * TRX, "ENERGY"), key)
    contract = client.get_contract(USDT)
    send(devnet, contract.functions.transfer(receiver, TRX).with_owner(owner), key)
    limit = client.get_account_resource(owner)["EnergyLimit"]
    assert client.get_account_resource(owner)["EnergyUsed"] == WARM
    devnet.advance(12 * 3600)
    used = client.get_account_resource(owner)["EnergyUsed"]
    assert abs(used - WARM / 2) <= 1  # linear over 24 h: half is back
    assert client.get_account(owner)["account_resource"]["energy_usage"] == used
    assert client.get_energy(owner) == limit - used
    devnet.advance(12 * 3600)
    assert "EnergyUsed" not in client.get_account_resource(owner)
    assert client.get_energy(owner) == limit


def test_delegation_moves_energy_and_honours_lock(client: Tron, devnet: RunningDevnet) -> None:
    key, owner = new_account(devnet, 20_000)
    _, receiver = new_account(devnet, 1)
    send(devnet, client.trx.freeze_balance(owner, 10_000 * TRX, "ENERGY"), key)
    weight = NETWORK_WEIGHT + 10_000
    assert client.get_can_delegated_max_size(owner, "ENERGY")["max_size"] == 10_000 * TRX
    builder = client.trx.delegate_resource(
        owner, receiver, 4_000 * TRX, "ENERGY", lock=True, lock_period=28_800
    )
    info = send(devnet, builder, key)
    assert client.get_account_resource(receiver)["EnergyLimit"] == by_hand_limit(4_000, weight)
    assert client.get_account_resource(owner)["EnergyLimit"] == by_hand_limit(6_000, weight)
    acct = client.get_account(owner)
    assert acct["account_resource"]["delegated_frozenV2_balance_for_energy"] == 4_000 * TRX
    assert acct["frozenV2"][1]["amount"] == 6_000 * TRX
    recv = client.get_account(receiver)
    assert recv["account_resource"]["acquired_delegated_frozenV2_balance_for_energy"] == 4_000 * TRX
    (entry,) = client.get_delegated_resource_v2(owner, receiver)["delegatedResource"]
    assert entry["frozen_balance_for_energy"] == 4_000 * TRX
    assert entry["expire_time_for_energy"] == info["blockTimeStamp"] + 28_800 * 3000
    index = client.get_delegated_resource_account_index_v2(owner)
    assert index["toAccounts"] == [receiver]
    assert client.get_delegated_resource_account_index_v2(receiver)["fromAccounts"] == [owner]
    # locked for one day: undelegating now fails with java-tron's message
    with pytest.raises(ValidationError, match=r"insufficient delegateFrozenBalance\(Energy\)"):
        send(devnet, client.trx.undelegate_resource(owner, receiver, 4_000 * TRX, "ENERGY"), key)
    devnet.advance(DAY + 60)
    send(devnet, client.trx.undelegate_resource(owner, receiver, 4_000 * TRX, "ENERGY"), key)
    assert "EnergyLimit" not in client.get_account_resource(receiver)
    assert client.get_account_resource(owner)["EnergyLimit"] == by_hand_limit(10_000, weight)
    assert client.get_delegated_resource_v2(owner, receiver) == {}


def test_delegate_validation(client: Tron, devnet: RunningDevnet) -> None:
    key, owner = new_account(devnet, 2_000)
    _, receiver = new_account(devnet, 1)
    send(devnet, client.trx.freeze_balance(owner, 1_000 * TRX, "ENERGY"), key)
    too_much = client.trx.delegate_resource(owner, receiver, 2_000 * TRX, "ENERGY")
    with pytest.raises(ValidationError, match="available FreezeEnergyV2 balance"):
        send(devnet, too_much, key)
    with pytest.raises(ValidationError, match="Do not allow delegate resources to contract"):
        send(devnet, client.trx.delegate_resource(owner, USDT, 10 * TRX, "ENERGY"), key)
    body = httpx.post(
        f"{devnet.url}/wallet/delegateresource",
        json={
            "owner_address": owner,
            "receiver_address": receiver,
            "balance": 2_000 * TRX,
            "resource": "ENERGY",
            "visible": True,
        },
    ).json()
    assert body == {
        "Error": "class org.tron.core.exception.ContractValidateException : "
        "delegateBalance must be less than or equal to available FreezeEnergyV2 balance"
    }


def test_used_energy_reduces_delegatable_stake(client: Tron, devnet: RunningDevnet) -> None:
    key, owner = new_account(devnet, 20_000)
    _, receiver = new_account(devnet)
    devnet.mint(owner, 10)
    devnet.mint(receiver, 1)
    send(devnet, client.trx.freeze_balance(owner, 10_000 * TRX, "ENERGY"), key)
    send(devnet, client.get_contract(USDT).functions.transfer(receiver, TRX).with_owner(owner), key)
    max_size = client.get_can_delegated_max_size(owner, "ENERGY")["max_size"]
    weight = NETWORK_WEIGHT + 10_000
    backing = int(WARM * TRX * weight / TOTAL_ENERGY_LIMIT)  # TRX (sun) backing the used energy
    assert abs(max_size - (10_000 * TRX - backing)) <= TRX


def test_unfreeze_waits_14_days(client: Tron, devnet: RunningDevnet) -> None:
    key, owner = new_account(devnet, 1_000)
    send(devnet, client.trx.freeze_balance(owner, 100 * TRX, "ENERGY"), key)
    info = send(
        devnet, client.trx.unfreeze_balance(owner, "ENERGY", unfreeze_balance=40 * TRX), key
    )
    account = client.get_account(owner)
    expire = info["blockTimeStamp"] + 14 * DAY * 1000
    assert account["unfrozenV2"] == [
        {"type": "ENERGY", "unfreeze_amount": 40 * TRX, "unfreeze_expire_time": expire}
    ]
    assert account["frozenV2"][1]["amount"] == 60 * TRX
    count = httpx.post(
        f"{devnet.url}/wallet/getavailableunfreezecount",
        json={"owner_address": owner, "visible": True},
    ).json()
    assert count == {"count": 31}
    with pytest.raises(ValidationError, match="no unFreeze balance to withdraw"):
        send(devnet, client.trx.withdraw_stake_balance(owner), key)
    devnet.advance(14 * DAY - 3600)
    with pytest.raises(ValidationError, match="no unFreeze balance to withdraw"):
        send(devnet, client.trx.withdraw_stake_balance(owner), key)
    can = httpx.post(
        f"{devnet.url}/wallet/getcanwithdrawunfreezeamount",
        json={"owner_address": owner, "timestamp": expire, "visible": True},
    ).json()
    assert can == {"amount": 40 * TRX}
    devnet.advance(7200)
    balance = client.get_account_balance(owner)
    info = send(devnet, client.trx.withdraw_stake_balance(owner), key)
    assert info["withdraw_expire_amount"] == 40 * TRX
    assert client.get_account_balance(owner) - balance == 40
    assert "unfrozenV2" not in client.get_account(owner)


def test_at_most_32_pending_unstakes(client: Tron, devnet: RunningDevnet) -> None:
    key, owner = new_account(devnet, 1_000)
    devnet.params(getFreeNetLimit=100_000)  # keep this test about the unstake limit only
    send(devnet, client.trx.freeze_balance(owner, 100 * TRX, "BANDWIDTH"), key)
    for _ in range(32):
        send(devnet, client.trx.unfreeze_balance(owner, "BANDWIDTH", unfreeze_balance=TRX), key)
    with pytest.raises(ValidationError, match="unfreezing times is over limit"):
        send(devnet, client.trx.unfreeze_balance(owner, "BANDWIDTH", unfreeze_balance=TRX), key)


def test_unfreeze_auto_withdraws_matured(client: Tron, devnet: RunningDevnet) -> None:
    key, owner = new_account(devnet, 1_000)
    send(devnet, client.trx.freeze_balance(owner, 100 * TRX, "ENERGY"), key)
    send(devnet, client.trx.unfreeze_balance(owner, "ENERGY", unfreeze_balance=10 * TRX), key)
    devnet.advance(15 * DAY)
    info = send(devnet, client.trx.unfreeze_balance(owner, "ENERGY", unfreeze_balance=5 * TRX), key)
    assert info["withdraw_expire_amount"] == 10 * TRX
