"""Automatic top-up by rental, against the devnet and its market over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from tronpy.keys import PrivateKey

from alerts.models import EnergyAlert
from alerts.services.rules import alerts_check
from pools.chain import chain_client
from pools.models import EnergyPool, EnergyShare, RentalOrder, StakingOperation
from pools.services.keys import signing_key_import
from pools.services.prices import prices_monitor
from pools.services.rentals import payment_key, rental_order_plan
from pools.services.staking import staking_operations_drive, staking_submit
from pools.services.sync import pools_sync
from pools.tests.factories import EnergyPoolFactory
from predictions.forecasting import WEEK
from predictions.selectors import hour_floor
from predictions.services.rebalance import pools_rebalance
from predictions.services.topup import pools_topup
from predictions.tests.factories import EnergyPredictionFactory
from predictions.tests.test_rebalance import customer, drive, two_pools, withdraw  # noqa: F401

pytestmark = pytest.mark.django_db

TRX = 1_000_000
HOURLY = 5_000  # the forecast's pessimistic use per hour: 120,000 energy a day


@pytest.fixture
def pool(devnet, partner):
    """A custodial pool with TRX and no stake: it cannot serve what the forecast expects."""
    partner.rental_budget_daily_trx = 100
    partner.rental_budget_monthly_trx = 1_000
    partner.save()
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 1_000)
    signing_key_import(private_key_hex=key.hex())
    pool = EnergyPoolFactory(
        partner=partner,
        address=address,
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=0,
        energy_used=0,
    )
    EnergyPredictionFactory(
        pool=pool,
        made_at=hour_floor(timezone.now()),
        horizon_hours=WEEK,
        predicted_energy=HOURLY * WEEK // 2,
        lower_energy=0,
        upper_energy=HOURLY * WEEK,
    )
    prices_monitor()  # the chain's energy fee and the devnet market's quotes
    return pool


def run(devnet, *, mine: bool = True):
    """One `topup_pools` run, then a block and `broadcast_and_confirm`'s staking step."""
    report = pools_topup()
    if mine:
        devnet.mine()
        staking_operations_drive()
    return report


def market_balance(devnet) -> int:
    return chain_client().account_state(devnet.market()["address"]).balance_sun


def planned(
    pool, *, provider: str, address: str, need_key: str = "need", reason: str = "runs dry"
) -> RentalOrder:
    """An order of 120,000 energy for a day, planned as `topup_pools` plans one."""
    order = rental_order_plan(
        pool=pool,
        provider=provider,
        need_key=need_key,
        reason=reason,
        energy=120_000,
        days=1,
        price_sun=40,
        burn_price_sun=100,
        cost_sun=4_800_000,
        pay_to=address,
    ).order
    assert order is not None
    return order


def test_a_forecast_shortfall_rents_once_within_budget_and_the_energy_arrives(devnet, pool):
    before = market_balance(devnet)
    report = run(devnet)
    assert report.planned == 1
    order = RentalOrder.objects.get()
    # 120,000 energy short over the day; 0.4 × 100 sun per energy-day, against 100 to burn.
    assert (order.energy, order.days, order.cost_sun) == (120_000, 1, 4_800_000)
    assert order.price_sun * order.energy < order.burn_price_sun * 120_000
    assert order.payment is not None
    assert order.payment.kind == StakingOperation.Kind.PAYMENT
    run(devnet)  # paid → ordered: the market delegates
    order.refresh_from_db()
    assert order.state == RentalOrder.State.ORDERED
    assert order.market_order_id
    run(devnet)  # the delegation is in a block: delivered, and the pool synced
    order.refresh_from_db()
    pool.refresh_from_db()
    assert order.state == RentalOrder.State.DELIVERED
    chain = chain_client().account_state(pool.address)
    assert chain.acquired_energy_sun > 0
    assert pool.energy_limit == chain.energy_limit >= 120_000
    assert market_balance(devnet) == before + order.cost_sun
    # The same need, run again: nothing more is ordered.
    assert run(devnet).planned == 0
    assert RentalOrder.objects.count() == 1
    assert StakingOperation.objects.filter(kind="payment").count() == 1


def test_a_spent_budget_places_no_order(devnet, pool, partner):
    partner.rental_budget_daily_trx = 5
    partner.save()
    RentalOrder.objects.create(
        pool=EnergyPoolFactory(partner=partner),
        provider="devnet-market",
        need_key="earlier",
        reason="earlier today",
        energy=65_000,
        days=1,
        price_sun=40,
        burn_price_sun=100,
        cost_sun=2_600_000,
        state=RentalOrder.State.DELIVERED,
    )
    report = run(devnet)
    assert report.planned == 0
    assert report.skipped[pool.pk].startswith("budget: 4800000 sun needed, 2400000 sun left")
    assert RentalOrder.objects.count() == 1
    # A zero budget switches top-up off: the pool is not even looked at.
    partner.rental_budget_daily_trx = 0
    partner.save()
    assert run(devnet).skipped == {}


def test_a_failed_order_is_refunded_reported_and_not_ordered_again(devnet, pool):
    devnet.market(fail_orders=1)
    run(devnet)
    run(devnet)  # paid: the market takes the order, fails it and refunds
    order = RentalOrder.objects.get()
    assert order.state == RentalOrder.State.FAILED
    assert "the market failed to fill the order" in order.result
    assert order.refund_txid
    alerts_check(check_node=False)
    alert = EnergyAlert.objects.get(kind="rental_failed", resolved_at__isnull=True)
    assert alert.pool_id == pool.pk
    assert str(order.pk) in alert.message
    # The refund does not count against the budget; the same forecast orders nothing more.
    assert run(devnet).planned == 0
    assert RentalOrder.objects.count() == 1


def test_insufficient_supply_pays_nothing(devnet, pool):
    devnet.market(stake_trx=1)
    report = run(devnet)
    assert report.planned == 0
    assert "the market has" in report.skipped[pool.pk]
    assert not RentalOrder.objects.exists()


def test_a_crash_between_record_and_payment_leaves_one_order_and_one_payment(devnet, pool):
    before = market_balance(devnet)
    address = devnet.market()["address"]
    order = planned(
        pool,
        provider="devnet-market",
        address=address,
        need_key="crash",
        reason="a run that died after recording its order",
    )
    # ... and after its payment was signed, recorded and broadcast, but before the order
    # learnt of it.
    submitted = staking_submit(
        pool=pool,
        kind="payment",
        amount_sun=4_800_000,
        receiver=address,
        idempotency_key=payment_key(order),
    )
    devnet.mine()
    for _ in range(3):
        run(devnet)
    order.refresh_from_db()
    assert order.payment_id == submitted.pk
    assert order.state == RentalOrder.State.DELIVERED
    assert StakingOperation.objects.filter(kind="payment").count() == 1
    assert RentalOrder.objects.count() == 1  # the open order kept the forecast from another
    assert market_balance(devnet) == before + 4_800_000


def test_a_delivered_rental_expires_after_its_days(devnet, pool):
    for _ in range(3):
        run(devnet)
    order = RentalOrder.objects.get(state=RentalOrder.State.DELIVERED)
    RentalOrder.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(1))
    run(devnet)
    order.refresh_from_db()
    assert order.state == RentalOrder.State.EXPIRED


def test_an_unclear_market_answer_is_asked_again_without_paying_twice(devnet, pool):
    devnet.market(unavailable=1)
    run(devnet)  # planned, paid
    run(devnet)  # the market answers 503: the order stays paid
    order = RentalOrder.objects.get()
    assert order.state == RentalOrder.State.PAID
    run(devnet)  # asked again with the same payment: ordered
    run(devnet)
    order.refresh_from_db()
    assert order.state == RentalOrder.State.DELIVERED
    assert StakingOperation.objects.filter(kind="payment").count() == 1


@pytest.fixture
def drained(devnet, partner, two_pools, customer):  # noqa: F811
    """rebalance's two pools after a burst: the busy one drained with a withdrawal queued,
    the idle one able to lend; rental budgets set and prices recorded."""
    busy, idle = two_pools
    partner.rental_budget_daily_trx = 100
    partner.rental_budget_monthly_trx = 1_000
    partner.save()
    burst = [withdraw(customer) for _ in range(4)]
    assert [w.status for w in burst] == ["reserved"] * 3 + ["queued"]
    drive(devnet)
    pools_sync()
    prices_monitor()
    return busy, idle


def test_sharing_goes_first_and_renting_covers_only_what_it_cannot(devnet, partner, drained):
    busy, idle = drained
    report = pools_topup()  # this minute's sharing plan lends to the busy pool
    assert report.planned == 0
    assert report.skipped[busy.pk].startswith(f"sharing first: pool {idle.pk} lends it ")
    assert pools_rebalance().delegated == 1
    report = pools_topup()  # the loan is on its way
    assert report.skipped[busy.pk].startswith(f"sharing first: {EnergyShare.objects.get().energy}")
    assert "on its way" in report.skipped[busy.pk]
    devnet.mine()
    staking_operations_drive()  # the loan arrives: the busy pool covers its queue
    pools_rebalance()
    assert EnergyShare.objects.get().state == "active"
    report = pools_topup()
    assert report.planned == 0
    assert busy.pk not in report.skipped  # not short any more
    assert not RentalOrder.objects.exists()


def test_without_sharing_the_drained_pool_is_rented_for(devnet, partner, drained):
    busy, _ = drained
    partner.sharing_enabled = False
    partner.save()
    report = pools_topup()
    assert report.planned == 1, report.skipped
    assert RentalOrder.objects.get().pool_id == busy.pk
