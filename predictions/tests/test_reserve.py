"""Operator reserve pools (`rebalance_pools`, predictions/services/rebalance.py) on the devnet:
a partner with no spare pool of its own borrows from a reserve it holds a grant on, and gives
it back after the lock; a partner without a grant does not; two partners share one reserve
within their caps; the reserve keeps what its own forecast needs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from partners.tests.factories import CustomerFactory, PartnerFactory
from pools.chain import chain_client
from pools.models import EnergyPool, EnergyShare, ReserveGrant, StakingOperation
from pools.services.sharing import share_open
from pools.services.staking import staking_operations_drive
from pools.services.sync import pools_sync
from predictions.selectors import current_upper_series, pool_depletion_estimates, pool_surplus
from predictions.services import predictions_refresh
from predictions.services.rebalance import pools_rebalance, rebalance_plan
from predictions.tests.test_rebalance import (
    COLD,
    DAY_BLOCKS,
    custodial_pool,
    drive,
    forecast,
    ratio,
    withdraw,
)
from withdrawals.services.balances import balance_credit
from withdrawals.services.requests import queue_allocate

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_partner(db):
    """The operator's own partner, which owns the reserve pools."""
    return PartnerFactory(name="Operator reserve")


def reserve_pool(devnet, operator_partner, *, energy: int, per_hour: int = 0) -> EnergyPool:
    pool: EnergyPool = custodial_pool(devnet, operator_partner, energy=energy, label="reserve")
    pool.is_reserve = True
    pool.save()
    pools_sync()
    pool.refresh_from_db()
    forecast(pool, per_hour)
    return pool


def grant(pool: EnergyPool, partner, max_energy: int) -> ReserveGrant:
    made = ReserveGrant(pool=pool, partner=partner, max_energy=max_energy)
    made.full_clean()
    made.save()
    return made


def short_pool(devnet, partner, *, energy: int = 100_000, label: str = "short") -> EnergyPool:
    """A pool whose forecast spends its whole limit every hour: short within the horizon."""
    pool: EnergyPool = custodial_pool(devnet, partner, energy=energy, label=label)
    pools_sync()
    pool.refresh_from_db()
    forecast(pool, pool.energy_limit)
    return pool


def test_a_partner_without_a_spare_pool_borrows_from_its_reserve_and_gives_it_back(
    devnet, partner, operator_partner
):
    """One drained pool, a queued withdrawal, no other pool: the granted reserve lends, the
    withdrawal goes out on the reserve's energy, the loan is given back after the lock."""
    customer = CustomerFactory(partner=partner)
    balance_credit(
        customer=customer, currency="USDT", amount=Decimal("1000"), idempotency_key="seed"
    )
    busy = custodial_pool(devnet, partner, energy=int(COLD * 3.05), label="busy", usdt=1_000)
    reserve = reserve_pool(devnet, operator_partner, energy=1_000_000)
    grant(reserve, partner, 400_000)
    partner.sharing_lock_blocks = 2 * DAY_BLOCKS
    partner.save()
    burst = [withdraw(customer) for _ in range(4)]
    assert [w.status for w in burst] == ["reserved"] * 3 + ["queued"]
    drive(devnet)
    pools_sync()
    assert queue_allocate() == 0
    forecast(reserve, 0)  # the reserve's forecast is current

    report = pools_rebalance()
    assert report.delegated == 1
    share = EnergyShare.objects.get()
    assert (share.donor_id, share.receiver_id) == (reserve.pk, busy.pk)
    assert share.partner_id == partner.pk  # the borrower's loan: its list, its limits
    assert share.energy <= 400_000
    assert share.lock_period_blocks == 2 * DAY_BLOCKS
    assert f"operator reserve {reserve.pk} lends" in share.reason
    assert "queue waiting" in share.reason
    assert share.delegate_operation.pool_id == reserve.pk
    assert share.delegate_operation.receiver == busy.address
    assert pools_rebalance().delegated == 0  # in flight: nothing twice

    devnet.mine()
    staking_operations_drive()
    assert pools_rebalance().settled.delegated == 1
    share.refresh_from_db()
    assert share.state == "active"
    assert queue_allocate() == 1
    queued = burst[3]
    queued.refresh_from_db()
    assert (queued.status, queued.pool_id) == ("reserved", busy.pk)
    drive(devnet)
    queued.refresh_from_db()
    assert queued.status == "confirmed"
    assert queued.energy_used == COLD

    devnet.advance(24 * 3600 + 60)
    pools_sync()
    predictions_refresh()
    assert pools_rebalance().returning == 0  # the two-day lock holds
    devnet.advance(24 * 3600 + 60)
    pools_sync()
    assert pools_rebalance().returning == 1
    share.refresh_from_db()
    assert share.state == "returning"
    assert "shortage passed" in share.return_reason
    devnet.mine()
    staking_operations_drive()
    pools_rebalance()
    share.refresh_from_db()
    assert share.state == "returned"
    chain = chain_client()
    assert chain.account_state(reserve.address).delegated_out_energy_sun == 0
    assert chain.account_state(busy.address).acquired_energy_sun == 0
    assert StakingOperation.objects.filter(kind__in=["delegate", "undelegate"]).count() == 2


def test_only_a_granted_partner_draws_and_its_own_pools_lend_first(
    devnet, partner, other_partner, operator_partner
):
    reserve = reserve_pool(devnet, operator_partner, energy=1_000_000)
    mine = short_pool(devnet, partner, label="mine")
    theirs = short_pool(devnet, other_partner, label="theirs")
    grant(reserve, partner, 300_000)
    assert pools_rebalance().delegated == 1
    share = EnergyShare.objects.get()
    assert (share.donor_id, share.receiver_id, share.partner_id) == (
        reserve.pk,
        mine.pk,
        partner.pk,
    )
    assert not EnergyShare.objects.filter(receiver=theirs).exists()
    # Without a grant the mechanics refuse too: nothing recorded.
    with pytest.raises(ValueError, match="may not draw"):
        share_open(
            donor=reserve,
            receiver=theirs,
            amount_sun=1_000_000,
            energy=10_000,
            lock_period_blocks=0,
            reason="no grant",
        )
    assert EnergyShare.objects.count() == 1

    # A partner with a spare pool of its own borrows from it, not from the reserve.
    spare = custodial_pool(devnet, other_partner, energy=1_000_000, label="spare")
    forecast(spare, 0)
    grant(reserve, other_partner, 300_000)
    pools_rebalance()
    loan = EnergyShare.objects.get(receiver=theirs)
    assert loan.donor_id == spare.pk
    assert not EnergyShare.objects.filter(donor=reserve, partner=other_partner).exists()


def test_two_partners_share_one_reserve_within_their_caps(
    devnet, partner, other_partner, operator_partner
):
    reserve = reserve_pool(devnet, operator_partner, energy=500_000)
    supply = reserve.available_energy
    a = short_pool(devnet, partner, label="a")
    b = short_pool(devnet, other_partner, label="b")
    grant(reserve, partner, 100_000)
    grant(reserve, other_partner, 800_000)
    assert pools_rebalance().delegated == 2
    loans = {s.partner_id: s for s in EnergyShare.objects.all()}
    assert {loans[partner.pk].receiver_id, loans[other_partner.pk].receiver_id} == {a.pk, b.pk}
    # Each asks for about 530,000 (its limit 4.8 times over six hours, plus the margin): the
    # one capped at 100,000 gets its cap, the other what the reserve has left.
    assert 100_000 - ratio() < loans[partner.pk].energy <= 100_000
    assert loans[other_partner.pk].energy <= 800_000
    total = sum(s.energy for s in loans.values())
    assert supply * 0.98 < total <= supply
    assert pools_rebalance().delegated == 0
    devnet.mine()
    staking_operations_drive()
    pools_rebalance()
    assert chain_client().account_state(reserve.address).delegated_out_energy_sun == sum(
        s.amount_sun for s in loans.values()
    )


def test_equal_grants_split_a_reserve_evenly(devnet, partner, other_partner, operator_partner):
    reserve = reserve_pool(devnet, operator_partner, energy=400_000)
    short_pool(devnet, partner, label="a")
    short_pool(devnet, other_partner, label="b")
    grant(reserve, partner, 1_000_000)
    grant(reserve, other_partner, 1_000_000)
    plan = rebalance_plan(energy_per_trx=ratio(), head_block=None)
    energy = {m.partner_id: m.energy for m in plan.moves}
    assert set(energy) == {partner.pk, other_partner.pk}
    assert energy[partner.pk] == pytest.approx(energy[other_partner.pk], abs=2 * float(ratio()))
    assert sum(energy.values()) <= reserve.available_energy


def test_the_reserve_keeps_what_its_own_forecast_needs(devnet, partner, operator_partner):
    reserve = reserve_pool(devnet, operator_partner, energy=1_000_000, per_hour=150_000)
    short_pool(devnet, partner)
    grant(reserve, partner, 2_000_000)
    from django.utils import timezone

    now = timezone.now()
    upper = current_upper_series(pool_ids=[reserve.pk], now=now, hours=6)
    estimates = pool_depletion_estimates(pool_ids=[reserve.pk], now=now, hours=6, series=upper)
    spare = pool_surplus(estimates=estimates, pool_ids=[reserve.pk], hours=6, series=upper)
    assert 0 < spare[reserve.pk] < reserve.available_energy * 0.5
    plan = rebalance_plan(energy_per_trx=ratio(), head_block=None)
    [move] = plan.moves
    assert move.donor_id == reserve.pk
    assert spare[reserve.pk] - 2 * ratio() < move.energy <= spare[reserve.pk]
    # A forecast that needs everything the reserve has: it lends nothing.
    forecast(reserve, 250_000)
    assert rebalance_plan(energy_per_trx=ratio(), head_block=None).moves == []


def test_grants_and_reserves_are_checked(partner, other_partner):
    from pools.tests.factories import EnergyPoolFactory

    plain = EnergyPoolFactory(partner=other_partner, custody="custodial")
    with pytest.raises(ValidationError) as refused:
        ReserveGrant(pool=plain, partner=partner, max_energy=1).full_clean()
    assert "pool" in refused.value.message_dict
    plain.is_reserve = True
    plain.save()
    with pytest.raises(ValidationError) as refused:
        ReserveGrant(pool=plain, partner=other_partner, max_energy=1).full_clean()
    assert "partner" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        ReserveGrant(pool=plain, partner=partner, max_energy=0).full_clean()
    assert "max_energy" in refused.value.message_dict
    watch = EnergyPoolFactory(partner=other_partner, custody="watch_only")
    watch.is_reserve = True
    with pytest.raises(ValidationError):
        watch.full_clean()
