"""Energy sharing between a partner's pools (`rebalance_pools`) on the devnet: loans made by
DelegateResource, the queue served from them, given back after the lock; fair share, limits,
the off switch, crashes and back-to-back runs."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from tronpy.keys import PrivateKey

from partners.tests.factories import CustomerFactory
from pools.chain import chain_client
from pools.models import EnergyPool, EnergyShare, StakingOperation
from pools.services.keys import signing_key_import
from pools.services.staking import staking_operations_drive, staking_submit
from pools.services.sync import pools_sync
from pools.tests.factories import EnergyPoolFactory
from predictions.services import predictions_refresh
from predictions.services.rebalance import (
    Need,
    fair_share,
    pools_rebalance,
    rebalance_plan,
)
from predictions.selectors import network_energy_per_trx
from withdrawals.models import Withdrawal
from withdrawals.services.balances import balance_credit
from withdrawals.services.requests import queue_allocate, withdrawal_request
from withdrawals.services.sending import withdrawals_drive

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TRX = 1_000_000
COLD = 130_285  # a USDT transfer to a new holder (pools/chain/client.py)
DAY_BLOCKS = 28_800


def ratio() -> Decimal:
    pool = EnergyPool.objects.first()
    assert pool is not None
    value = network_energy_per_trx(pools=[pool])
    assert value is not None
    return value


def stake_for(devnet, energy: int) -> int:
    """Whole TRX that, staked now, buy `energy` of limit: E = X·L / (W + X)."""
    state = chain_client().account_state(devnet.genesis_address)
    limit, weight = state.total_energy_limit, state.total_energy_weight
    return energy * weight // (limit - energy) + 1


def custodial_pool(devnet, partner, *, energy: int, label: str, usdt: int = 0, priority=1):
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    stake_trx = stake_for(devnet, energy)
    devnet.fund(address, stake_trx + 200)
    if usdt:
        devnet.mint(address, usdt)
    signing_key_import(private_key_hex=key.hex())
    pool = EnergyPoolFactory(
        partner=partner,
        address=address,
        label=label,
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=0,
        staked_trx_sun=0,
        share_priority=priority,
    )
    staking_submit(pool=pool, kind="stake", amount_sun=stake_trx * TRX)
    devnet.mine()
    staking_operations_drive()
    pool.refresh_from_db()
    return pool


def settle(devnet):
    devnet.mine()
    staking_operations_drive()
    pools_sync()


@pytest.fixture
def customer(partner):
    customer = CustomerFactory(partner=partner)
    balance_credit(
        customer=customer, currency="USDT", amount=Decimal("1000"), idempotency_key="seed"
    )
    return customer


def withdraw(customer) -> Withdrawal:
    to = PrivateKey.random().public_key.to_base58check_address()
    withdrawal, _ = withdrawal_request(customer=customer, to_address=to, amount=Decimal("5"))
    return withdrawal


def drive(devnet, rounds=4):
    for _ in range(rounds):
        withdrawals_drive()
        devnet.mine()
    withdrawals_drive()


@pytest.fixture
def two_pools(devnet, partner):
    """A busy pool (about three cold transfers of energy) and an idle one too small to send a
    cold transfer itself; forecasts made while both were quiet."""
    busy = custodial_pool(devnet, partner, energy=int(COLD * 3.05), label="busy", usdt=1_000)
    idle = custodial_pool(devnet, partner, energy=int(COLD * 0.97), label="idle")
    pools_sync()
    busy.refresh_from_db()
    idle.refresh_from_db()
    assert 3 * COLD < busy.energy_limit < 4 * COLD
    assert COLD * 0.9 < idle.energy_limit < COLD
    predictions_refresh()
    return busy, idle


def test_a_drained_pool_borrows_from_an_idle_one_and_gives_it_back_after_the_lock(
    devnet, partner, customer, two_pools
):
    busy, idle = two_pools
    partner.sharing_lock_blocks = 2 * DAY_BLOCKS
    partner.save()
    burst = [withdraw(customer) for _ in range(4)]
    assert [w.status for w in burst] == ["reserved"] * 3 + ["queued"]
    assert {w.pool_id for w in burst[:3]} == {busy.pk}
    drive(devnet)
    for w in burst[:3]:
        w.refresh_from_db()
        assert w.status == "confirmed"
    pools_sync()
    assert queue_allocate() == 0  # no pool alone covers the queued transfer

    report = pools_rebalance()
    assert report.delegated == 1
    share = EnergyShare.objects.get()
    assert (share.donor_id, share.receiver_id, share.state) == (idle.pk, busy.pk, "delegating")
    assert share.lock_period_blocks == 2 * DAY_BLOCKS
    op = share.delegate_operation
    assert op.kind == "delegate" and op.receiver == busy.address
    assert "queue waiting" in op.reason and op.reason == share.reason
    # A second run while the move is in flight lends nothing more.
    assert pools_rebalance().delegated == 0
    assert EnergyShare.objects.count() == 1

    devnet.mine()
    staking_operations_drive()  # confirms; syncs the donor and the receiver
    assert pools_rebalance().settled.delegated == 1
    share.refresh_from_db()
    op.refresh_from_db()
    assert op.state == "confirmed"
    assert share.state == "active" and share.delegated_block == op.block_number
    busy.refresh_from_db()
    assert busy.available_energy >= COLD

    assert queue_allocate() == 1
    queued = burst[3]
    queued.refresh_from_db()
    assert (queued.status, queued.pool_id) == ("reserved", busy.pk)
    drive(devnet)
    queued.refresh_from_db()
    assert queued.status == "confirmed"
    # On pooled energy: the transfer's energy came from stake; what burned (well under a
    # TRX) is bandwidth, the pool's free bandwidth spent by the burst.
    assert queued.energy_used == COLD
    assert queued.trx_burned_sun < TRX

    # A day later the pool has regrown, but the lock (two days) still holds the loan.
    devnet.advance(24 * 3600 + 60)
    pools_sync()
    predictions_refresh()
    assert pools_rebalance().returning == 0
    devnet.advance(24 * 3600 + 60)
    pools_sync()
    report = pools_rebalance()
    assert report.returning == 1
    share.refresh_from_db()
    assert share.state == "returning" and "shortage passed" in share.return_reason
    assert share.undelegate_operation.kind == "undelegate"
    devnet.mine()
    staking_operations_drive()
    pools_rebalance()
    share.refresh_from_db()
    assert share.state == "returned"
    chain = chain_client()
    assert chain.account_state(idle.address).delegated_out_energy_sun == 0
    assert chain.account_state(busy.address).acquired_energy_sun == 0
    assert StakingOperation.objects.filter(kind__in=["delegate", "undelegate"]).count() == 2
