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
from predictions.selectors import network_energy_per_trx
from predictions.services import predictions_refresh
from predictions.services.rebalance import (
    Need,
    fair_share,
    pools_rebalance,
    rebalance_plan,
)
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
    assert op.kind == "delegate"
    assert op.receiver == busy.address
    assert "queue waiting" in op.reason
    assert op.reason == share.reason
    # A second run while the move is in flight lends nothing more.
    assert pools_rebalance().delegated == 0
    assert EnergyShare.objects.count() == 1

    devnet.mine()
    staking_operations_drive()  # confirms; syncs the donor and the receiver
    assert pools_rebalance().settled.delegated == 1
    share.refresh_from_db()
    op.refresh_from_db()
    assert op.state == "confirmed"
    assert share.state == "active"
    assert share.delegated_block == op.block_number
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
    assert share.state == "returning"
    assert "shortage passed" in share.return_reason
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


# ---------------------------------------------------------------------------------------------
# Three short pools and one donor: fair share, limits, the off switch, crashes


def forecast(pool, per_hour: int):
    """A current week forecast whose pessimistic side uses `per_hour` every hour."""
    from predictions.tests.factories import EnergyPredictionFactory

    EnergyPredictionFactory(
        pool=pool,
        horizon_hours=168,
        predicted_energy=per_hour * 168,
        lower_energy=0,
        upper_energy=per_hour * 168,
    )


@pytest.fixture
def three_short(devnet, partner):
    """A donor with about 1,000,000 energy and nothing forecast; three pools of about
    100,000 whose forecast spends their whole limit every hour, priorities 1, 2 and 5."""
    donor = custodial_pool(devnet, partner, energy=1_000_000, label="donor")
    short = [
        custodial_pool(devnet, partner, energy=100_000, label=f"p{prio}", priority=prio)
        for prio in (1, 2, 5)
    ]
    pools_sync()
    forecast(donor, 0)
    for pool in short:
        pool.refresh_from_db()
        forecast(pool, pool.energy_limit)
    donor.refresh_from_db()
    return donor, short


def shares_by_receiver():
    return {s.receiver_id: s for s in EnergyShare.objects.all()}


def test_several_short_pools_share_one_donor_fairly_by_priority(devnet, three_short, settings):
    donor, (p1, p2, p5) = three_short
    report = pools_rebalance()
    assert report.delegated == 3
    shares = shares_by_receiver()
    assert set(shares) == {p1.pk, p2.pk, p5.pk}
    assert {s.donor_id for s in shares.values()} == {donor.pk}
    energy = {pk: s.energy for pk, s in shares.items()}
    supply = donor.available_energy
    assert sum(energy.values()) <= supply
    assert sum(energy.values()) > supply * 0.95  # the supply is used, not hoarded
    # Nobody starved (each at least its floor: 20 % of the supply split three ways), and a
    # higher priority gets more.
    floor = supply * settings.REBALANCE_FLOOR_PERCENT / 100 / 3
    assert floor * 0.99 < energy[p1.pk] < energy[p2.pk] < energy[p5.pk]
    # Weighted water-filling: p5 gets its whole need (its limit ~4.8 times over six hours,
    # plus the margin), the rest is split 1:2 beyond the floor.
    assert (energy[p2.pk] - floor) == pytest.approx(2 * (energy[p1.pk] - floor), rel=0.02)
    for share in shares.values():
        assert f"priority {share.receiver.share_priority} of 8" in share.reason
    devnet.mine()
    staking_operations_drive()
    pools_rebalance()
    chain = chain_client()
    for pool in (p1, p2, p5):
        share = shares[pool.pk]
        share.refresh_from_db()
        assert share.state == "active"
        assert chain.account_state(pool.address).acquired_energy_sun == share.amount_sun
    assert chain.account_state(donor.address).delegated_out_energy_sun == sum(
        s.amount_sun for s in shares.values()
    )


def test_fair_share_floor_and_water_filling():
    needs = [Need(1, 1_000, 1), Need(2, 1_000, 2), Need(3, 100, 5)]
    given = fair_share(supply=1_000, needs=needs, floor_percent=30)
    assert given[3] == 100  # needs little: filled, the rest goes to the others
    assert given[1] >= 100
    assert given[2] > given[1]
    assert sum(given.values()) <= 1_000
    assert sum(given.values()) >= 997  # rounding only
    # Without a floor, priorities alone; never more than a need.
    given = fair_share(supply=10_000, needs=needs, floor_percent=0)
    assert given == {1: 1_000, 2: 1_000, 3: 100}
    assert fair_share(supply=0, needs=needs, floor_percent=20) == {1: 0, 2: 0, 3: 0}


def test_hourly_move_limit_serves_the_longest_waiting_next(devnet, partner, three_short):
    donor, (p1, p2, p5) = three_short
    partner.sharing_max_moves_per_hour = 2
    partner.save()
    assert pools_rebalance().delegated == 2
    first = shares_by_receiver()
    assert set(first) == {p5.pk, p2.pk}  # none served yet: priority first
    assert pools_rebalance().delegated == 0  # the hour's moves are spent
    # An hour later: the pool never served goes first.
    from datetime import timedelta

    from django.utils import timezone

    EnergyShare.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    assert pools_rebalance().delegated == 1
    shares = shares_by_receiver()
    assert set(shares) == {p1.pk, p2.pk, p5.pk}
    # p1's fair share waited for it with the donor: it is the floor and more, not scraps.
    supply = donor.available_energy
    assert shares[p1.pk].energy > supply * 0.2 / 3
    assert shares[p1.pk].energy < shares[p2.pk].energy < shares[p5.pk].energy


def test_hourly_trx_limit_caps_what_moves_and_still_serves_everyone(devnet, partner, three_short):
    _donor, _short = three_short
    cap_trx = int(150_000 / ratio())
    partner.sharing_max_trx_per_hour = cap_trx
    partner.save()
    assert pools_rebalance().delegated == 3
    moved = sum(s.amount_sun for s in EnergyShare.objects.all())
    assert moved <= cap_trx * TRX
    assert pools_rebalance().delegated == 0  # nothing left this hour (and pairs are open)


def test_the_off_switch_stops_new_loans(devnet, partner, three_short):
    partner.sharing_enabled = False
    partner.save()
    assert pools_rebalance().delegated == 0
    assert not EnergyShare.objects.exists()
    assert not StakingOperation.objects.filter(kind="delegate").exists()
    partner.sharing_enabled = True
    partner.save()
    assert pools_rebalance().delegated == 3


def test_plan_reads_a_fixed_number_of_queries(
    devnet, partner, three_short, django_assert_num_queries
):
    value = ratio()
    with django_assert_num_queries(7):
        plan = rebalance_plan(energy_per_trx=value, head_block=None)
    assert len(plan.moves) == 3
    for _ in range(3):
        custodial_pool(devnet, partner, energy=50_000, label="more")
    with django_assert_num_queries(7):
        rebalance_plan(energy_per_trx=value, head_block=None)


CRASH_SCRIPT = """
import os, django
django.setup()
from pools.chain.client import ChainClient
from predictions.services.rebalance import pools_rebalance
point = os.environ["CRASH_AT"]
original_broadcast = ChainClient.broadcast
if point == "before_record":
    def sign(unsigned, signer):
        os._exit(9)
    ChainClient.sign = staticmethod(sign)
elif point == "before_broadcast":
    def broadcast(self, signed):
        os._exit(9)
    ChainClient.broadcast = broadcast
elif point == "after_broadcast":
    def broadcast(self, signed):
        original_broadcast(self, signed)
        os._exit(9)
    ChainClient.broadcast = broadcast
pools_rebalance()
raise SystemExit("the crash point was never reached")
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("point", ["before_record", "before_broadcast", "after_broadcast"])
def test_a_move_killed_midway_makes_exactly_one_operation(
    devnet, partner, three_short, settings, point
):
    donor, (_p1, _p2, _p5) = three_short
    partner.sharing_max_moves_per_hour = 1
    partner.save()
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "CRASH_AT": point,
        "DJANGO_SETTINGS_MODULE": "energy_platform.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TRON_NODE_URLS": devnet.url,
    }
    result = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 9, result.stderr[-2000:]
    share = EnergyShare.objects.get()
    expected = {"before_record": 0, "before_broadcast": 1, "after_broadcast": 1}[point]
    assert StakingOperation.objects.filter(kind="delegate").count() == expected
    # The next runs carry the move on with the same key: one operation, one delegation.
    for _ in range(3):
        pools_rebalance()
        staking_operations_drive()
        devnet.mine()
    staking_operations_drive()
    pools_rebalance()
    share.refresh_from_db()
    assert share.state == "active"
    ops = StakingOperation.objects.filter(kind="delegate")
    assert [o.state for o in ops] == ["confirmed"]
    assert EnergyShare.objects.count() == 1
    assert chain_client().account_state(donor.address).delegated_out_energy_sun == share.amount_sun
