"""A rental order paid to its market and stuck there alerts a person (alerts/services/rules.py,
`rental_stuck`): at once when its market cannot be asked about it, after
ALERT_RENTAL_STUCK_MINUTES when the market does not take it, or past the delivery timeout
when it neither delivers nor fails; a standing order costs no writes per run; the order
moving on resolves it. Against the devnet and its market over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import AlertDelivery, EnergyAlert
from alerts.services.rules import alerts_check
from alerts.tests.factories import AlertChannelFactory
from pools.models import EnergyPool, RentalOrder, StakingOperation
from pools.services.rentals import payment_key
from pools.services.staking import staking_submit
from predictions.tests.test_topup import market_balance, pool, run  # noqa: F401
from predictions.tests.test_topup_providers import planned

pytestmark = pytest.mark.django_db

STUCK = EnergyAlert.Kind.RENTAL_STUCK


def stuck_alerts():
    return EnergyAlert.objects.filter(kind=STUCK)


def writes_of(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


def test_a_paid_order_whose_market_cannot_be_asked_alerts_once_and_resolves_when_it_moves_on(
    devnet,
    pool,  # noqa: F811
    partner,
):
    """A run killed between paying and linking the payment, then a deploy that lost the
    order's market: the order is paid and waits (pools/services/rentals.py). One critical
    alert on the pool, to the partner's channel; later runs write nothing; the provider
    restored, the order is placed and the alert resolves."""
    channel = AlertChannelFactory(partner=partner, kind="email", target="ops@acme.test")
    address = devnet.market()["address"]
    order = planned(pool, provider="tronsave", address=address)
    staking_submit(
        pool=pool,
        kind="payment",
        amount_sun=order.cost_sun,
        receiver=address,
        idempotency_key=payment_key(order),
    )
    devnet.mine()
    run(devnet)  # linked: paying
    run(devnet)  # its payment confirmed: paid, and it stays there
    order.refresh_from_db()
    assert order.state == RentalOrder.State.PAID
    # The pool is otherwise well (synced now), so nothing else is raised.
    EnergyPool.objects.filter(pk=pool.pk).update(last_synced_at=timezone.now())

    alerts_check(check_node=False)
    alert = stuck_alerts().get()
    assert (alert.pool_id, alert.partner_id, alert.level) == (pool.pk, partner.pk, "critical")
    assert alert.resolved_at is None
    assert f"Rental order {order.pk} " in alert.message
    assert "'tronsave'" in alert.message
    assert "ordering is not built" in alert.message
    assert order.payment.txid in alert.message
    assert alert.value == order.cost_sun
    assert list(AlertDelivery.objects.filter(alert=alert).values_list("channel", "event")) == [
        (channel.pk, "opened")
    ]

    # A standing condition costs nothing: no write of any kind on later runs.
    for _ in range(2):
        with CaptureQueriesContext(connection) as ctx:
            alerts_check(check_node=False)
        assert writes_of(ctx.captured_queries) == []
    alert.refresh_from_db()
    assert (alert.sequence, alert.resolved_at) == (1, None)

    # A person restores the market under the order's name: it is placed, and the alert ends.
    RentalOrder.objects.filter(pk=order.pk).update(provider="devnet-market")
    run(devnet)
    order.refresh_from_db()
    assert order.state == RentalOrder.State.ORDERED
    alerts_check(check_node=False)
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert list(
        AlertDelivery.objects.filter(alert=alert)
        .order_by("sequence")
        .values_list("event", flat=True)
    ) == ["opened", "resolved"]
    assert stuck_alerts().count() == 1
    run(devnet)
    order.refresh_from_db()
    assert order.state == RentalOrder.State.DELIVERED
    assert StakingOperation.objects.filter(kind="payment").count() == 1


def test_an_ordered_order_whose_market_is_gone_alerts_at_once(
    devnet,
    pool,  # noqa: F811
):
    run(devnet)
    run(devnet)  # ordered with the devnet market
    order = RentalOrder.objects.get()
    assert order.state == RentalOrder.State.ORDERED
    RentalOrder.objects.filter(pk=order.pk).update(provider="gone-market")
    run(devnet)
    alerts_check(check_node=False)
    alert = stuck_alerts().get(resolved_at__isnull=True)
    assert alert.level == "critical"
    assert "'gone-market': no such rental provider" in alert.message
    assert "is ordered since" in alert.message


def test_a_paid_order_the_market_does_not_take_alerts_after_the_bound(
    devnet,
    pool,  # noqa: F811
    settings,
):
    """The market answers no order request (503s): the paid order waits, asked again every
    run. Within ALERT_RENTAL_STUCK_MINUTES nothing is raised; past it, a critical alert;
    the market back, the order is placed, and the alert resolves (a placed order has the
    delivery timeout and the bound again before it is stuck)."""
    settings.ALERT_RENTAL_STUCK_MINUTES = 30
    settings.TOPUP_DELIVERY_TIMEOUT_SECONDS = 900
    run(devnet)  # planned and paid
    devnet.market(unavailable=True)
    run(devnet)  # paid; the market does not answer
    order = RentalOrder.objects.get()
    assert order.state == RentalOrder.State.PAID
    now = timezone.now()
    alerts_check(now=now + timedelta(minutes=29), check_node=False)
    assert not stuck_alerts().exists()
    alerts_check(now=now + timedelta(minutes=31), check_node=False)
    alert = stuck_alerts().get()
    assert alert.level == "critical"
    assert "the market has not taken it within 30 min" in alert.message
    assert alert.threshold == 30

    devnet.market(clear=True)
    run(devnet)
    order.refresh_from_db()
    assert order.state == RentalOrder.State.ORDERED
    # Placed just now: 31 min on is within 15 min of delivery timeout + 30 min.
    alerts_check(now=now + timedelta(minutes=31), check_node=False)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_an_ordered_order_neither_delivered_nor_failed_alerts_past_the_delivery_timeout(
    devnet,
    pool,  # noqa: F811
    settings,
):
    """Placed, then the market cannot be reached to report it (its status unclear every
    run), so the delivery timeout never fails it: stuck once the timeout and the bound have
    passed since it was placed. The market back, it is delivered and the alert resolves."""
    settings.ALERT_RENTAL_STUCK_MINUTES = 30
    settings.TOPUP_DELIVERY_TIMEOUT_SECONDS = 900
    run(devnet)
    run(devnet)  # ordered; the market's delegation is mined
    order = RentalOrder.objects.get()
    assert order.state == RentalOrder.State.ORDERED
    settings.ENERGY_RENTAL_DEVNET_MARKET_URL = "http://127.0.0.1:9"  # nothing listens
    placed = timezone.now() - timedelta(minutes=44)
    RentalOrder.objects.filter(pk=order.pk).update(ordered_at=placed)
    run(devnet)
    alerts_check(check_node=False)
    assert not stuck_alerts().exists()
    placed = timezone.now() - timedelta(minutes=46)
    RentalOrder.objects.filter(pk=order.pk).update(ordered_at=placed)
    run(devnet)  # asked again, no answer: it stays ordered
    order.refresh_from_db()
    assert order.state == RentalOrder.State.ORDERED
    alerts_check(check_node=False)
    alert = stuck_alerts().get()
    assert alert.level == "critical"
    assert "neither delivered nor failed within 45 min" in alert.message
    assert f"is ordered since {placed.isoformat(timespec='seconds')}" in alert.message
    settings.ENERGY_RENTAL_DEVNET_MARKET_URL = ""
    run(devnet)  # the market reports the delegation: delivered
    order.refresh_from_db()
    assert order.state == RentalOrder.State.DELIVERED
    alerts_check(check_node=False)
    alert.refresh_from_db()
    assert alert.resolved_at is not None
