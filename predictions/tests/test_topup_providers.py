"""A rental order is paid, placed and followed with the provider it was planned with, whatever
`ENERGY_RENTAL_ORDER_PROVIDER` says later; a provider that cannot order is never paid
(pools/services/rentals.py). Against the devnet and its market over real HTTP."""

from __future__ import annotations

import logging

import pytest
from tronpy.keys import PrivateKey

from pools.models import EnergyPool, RentalOrder, StakingOperation
from pools.pricing import PROVIDERS_BY_NAME, RentalOrderingUnsupported, provider_for_order
from pools.services.keys import signing_key_import
from pools.services.rentals import (
    payment_key,
    rental_order_advance,
    rental_orders_drive,
)
from pools.services.staking import staking_submit
from pools.tests.factories import EnergyPoolFactory
from predictions.tests.factories import EnergyPredictionFactory
from predictions.tests.test_topup import market_balance, planned, pool, run  # noqa: F401

pytestmark = pytest.mark.django_db


def test_an_order_paid_with_one_market_is_placed_there_after_the_setting_changes(
    devnet,
    pool,  # noqa: F811
    settings,
):
    before = market_balance(devnet)
    run(devnet)  # planned and paid to the devnet market
    order = RentalOrder.objects.get()
    assert (order.provider, order.state) == ("devnet-market", RentalOrder.State.PAYING)
    # The operator switches orders to a market that cannot order (nor ever got this payment).
    settings.ENERGY_RENTAL_ORDER_PROVIDER = "pools.pricing.TronSaveRentalProvider"
    settings.TRONSAVE_API_KEY = "ts-key"
    run(devnet)  # paid → ordered, with the market that was paid
    order.refresh_from_db()
    assert order.state == RentalOrder.State.ORDERED
    assert order.market_order_id
    run(devnet)
    order.refresh_from_db()
    assert order.state == RentalOrder.State.DELIVERED
    assert market_balance(devnet) == before + order.cost_sun
    assert StakingOperation.objects.filter(kind="payment").count() == 1


@pytest.mark.parametrize(
    ("provider", "why"),
    [
        ("tronsave", "tronsave: ordering is not built"),
        ("feee", "feee: ordering is not built"),
        ("nope-market", "'nope-market': no such rental provider"),
    ],
)
def test_a_planned_order_whose_provider_cannot_order_fails_unpaid(
    devnet,
    pool,  # noqa: F811
    provider,
    why,
):
    before = market_balance(devnet)
    order = planned(pool, provider=provider, address=devnet.market()["address"])
    rental_order_advance(order=order)
    order.refresh_from_db()
    assert order.state == RentalOrder.State.FAILED
    assert order.result.startswith("not paid: ")
    assert why in order.result
    assert order.payment is None
    assert not StakingOperation.objects.filter(kind=StakingOperation.Kind.PAYMENT).exists()
    rental_orders_drive()  # a failed order is not advanced again
    devnet.mine()
    assert market_balance(devnet) == before
    assert not StakingOperation.objects.exists()


def test_a_payment_already_out_for_an_order_that_cannot_be_placed_is_kept_not_failed(
    devnet,
    pool,  # noqa: F811
    caplog,
):
    """A run killed after submitting the payment and before linking it, then a deploy that
    lost the order's market: the payment is linked and the order waits for a person, paid;
    it is neither failed (its TRX went out) nor placed with another market."""
    address = devnet.market()["address"]
    order = planned(pool, provider="tronsave", address=address)
    payment = staking_submit(
        pool=pool,
        kind="payment",
        amount_sun=4_800_000,
        receiver=address,
        idempotency_key=payment_key(order),
    )
    devnet.mine()
    with caplog.at_level(logging.ERROR, logger="pools.services.rentals"):
        for _ in range(3):
            run(devnet)
    order.refresh_from_db()
    assert order.payment_id == payment.pk
    assert order.state == RentalOrder.State.PAID
    assert not order.market_order_id
    assert StakingOperation.objects.filter(kind="payment").count() == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(f"rental order {order.pk}" in e and "needs a person" in e for e in errors)


def test_an_order_whose_recorded_market_is_gone_stays_where_it_is(
    devnet,
    pool,  # noqa: F811
    caplog,
):
    """Paid, then its provider's name no longer resolves (a renamed or removed provider): the
    order is neither placed elsewhere nor failed; an error says so each run."""
    run(devnet)
    run(devnet)  # ordered with the devnet market
    order = RentalOrder.objects.get()
    assert order.state == RentalOrder.State.ORDERED
    RentalOrder.objects.filter(pk=order.pk).update(provider="gone-market")
    with caplog.at_level(logging.ERROR, logger="pools.services.rentals"):
        run(devnet)
    order.refresh_from_db()
    assert order.state == RentalOrder.State.ORDERED
    assert any("gone-market" in r.getMessage() for r in caplog.records if r.levelno >= 40)


def test_providers_are_found_by_the_name_orders_record(settings):
    assert set(PROVIDERS_BY_NAME) == {"devnet-market", "tronsave", "feee"}
    assert provider_for_order("devnet-market").name == "devnet-market"
    for name in ("tronsave", "nope"):
        with pytest.raises(RentalOrderingUnsupported):
            provider_for_order(name)


def test_one_run_asks_the_market_for_its_terms_once(devnet, pool, partner, caplog):  # noqa: F811
    """Two short pools, one run: one `GET /market`, two orders planned and paid."""
    other = EnergyPoolFactory(
        partner=partner,
        address=(key := PrivateKey.random()).public_key.to_base58check_address(),
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=0,
        energy_used=0,
    )
    devnet.fund(other.address, 1_000)
    signing_key_import(private_key_hex=key.hex())
    prediction = pool.predictions.get()
    EnergyPredictionFactory(
        pool=other,
        made_at=prediction.made_at,
        horizon_hours=prediction.horizon_hours,
        predicted_energy=prediction.predicted_energy,
        lower_energy=prediction.lower_energy,
        upper_energy=prediction.upper_energy,
    )
    with caplog.at_level(logging.INFO, logger="httpx"):
        report = run(devnet, mine=False)
    assert report.planned == 2, report.skipped
    asked = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert sum("GET " in m and m.split()[3].endswith("/market") for m in asked) == 1, asked
    assert StakingOperation.objects.filter(kind="payment").count() == 2
