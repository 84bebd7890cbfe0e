"""Every rule of check_alerts raises and resolves its alert; the job costs a constant number
of queries over any number of pools; re-notification and acknowledgement."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from tronpy.keys import PrivateKey

from alerts.models import AlertDelivery, EnergyAlert, Level
from alerts.services import alert_acknowledge, alert_raise
from alerts.services.depletion import hours_until_depleted
from alerts.services.lifecycle import alerts_renotify
from alerts.services.rules import alerts_check
from alerts.tasks import check_alerts
from alerts.tests.factories import AlertChannelFactory, EnergyAlertFactory
from operations.models import JobRun
from partners.tests.factories import CustomerFactory, UserFactory
from pools.models import EnergyPool
from pools.services.keys import signing_key_import
from pools.services.sync import pools_sync
from pools.tests.factories import EnergyPoolFactory, EnergyUsageLogFactory
from withdrawals.services.balances import balance_credit
from withdrawals.services.emergency import emergency_confirm, emergency_quote
from withdrawals.tests.factories import QueueEntryFactory, WithdrawalFactory

pytestmark = pytest.mark.django_db


def open_alert(kind, **scope):
    return EnergyAlert.objects.filter(kind=kind, resolved_at__isnull=True, **scope).first()


def test_stale_sync_raises_escalates_and_resolves(devnet, partner):
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 10)
    pool = EnergyPoolFactory(partner=partner, address=address)
    pools_sync(queryset=EnergyPool.objects.filter(pk=pool.pk))
    pool.refresh_from_db()
    synced = pool.last_synced_at
    alerts_check(now=synced + timedelta(seconds=80), check_node=False)
    assert open_alert("stale_sync") is None  # 3 intervals of 30 s not yet over
    alerts_check(now=synced + timedelta(seconds=100), check_node=False)
    assert open_alert("stale_sync", pool=pool).level == "warning"
    alerts_check(now=synced + timedelta(seconds=400), check_node=False)
    assert open_alert("stale_sync", pool=pool).level == "critical"
    devnet.advance(400)
    pools_sync(queryset=EnergyPool.objects.filter(pk=pool.pk))
    alerts_check(now=synced + timedelta(seconds=400), check_node=False)
    assert open_alert("stale_sync") is None
    alert = EnergyAlert.objects.get(kind="stale_sync")
    assert (alert.sequence, alert.resolved_at is not None) == (3, True)


def wait_until_the_node_answers(devnet):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            devnet.state()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("the devnet did not come back")


def test_node_down_raises_a_platform_alert_for_operators_only(devnet, partner, settings):
    operators = AlertChannelFactory(partner=None, kind="email", target="noc@platform.test")
    ours = AlertChannelFactory(partner=partner, kind="email", target="ops@acme.test")
    devnet.mine()
    alerts_check()
    assert open_alert("node_unreachable") is None
    devnet.faults(refuse_seconds=3)  # the node looks dead: connection refused
    alerts_check()
    alert = open_alert("node_unreachable")
    assert (alert.partner_id, alert.pool_id, alert.level) == (None, None, "critical")
    wait_until_the_node_answers(devnet)
    alerts_check()
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    # A head block older than the limit: a warning.
    settings.TRON_HEAD_STALE_SECONDS = 0
    devnet.mine()
    alerts_check()
    assert open_alert("node_unreachable").level == "warning"
    assert AlertDelivery.objects.filter(channel=operators).count() == 3
    assert not AlertDelivery.objects.filter(channel=ours).exists()


def test_queue_backlog_by_count_and_age_and_resolution(partner):
    """The partner's one queue (served by all its pools): too long, too old, resolved."""
    partner.queue_backlog_minutes, partner.queue_backlog_max = 15, 2
    partner.save()
    key = PrivateKey.random()
    signing_key_import(private_key_hex=key.hex())
    EnergyPoolFactory(  # a pool that can send, so the queue can be served in time
        partner=partner,
        address=key.public_key.to_base58check_address(),
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=10_000_000,
    )
    entries = [QueueEntryFactory(withdrawal=WithdrawalFactory(partner=partner)) for _ in range(2)]
    alerts_check(check_node=False)
    assert open_alert("queue_backlog") is None
    entries.append(QueueEntryFactory(withdrawal=WithdrawalFactory(partner=partner)))
    alerts_check(check_node=False)
    alert = open_alert("queue_backlog")
    assert (alert.level, alert.pool_id, alert.partner_id) == ("warning", None, partner.pk)  # 3 > 2
    type(entries[0]).objects.filter(pk=entries[0].pk).update(
        enqueued_at=timezone.now() - timedelta(minutes=31)
    )
    alerts_check(check_node=False)
    alert = open_alert("queue_backlog")
    assert alert.level == "critical"  # older than twice 15 min
    assert "oldest for 31 min" in alert.message
    type(entries[0]).objects.filter(partner=partner).delete()
    alerts_check(check_node=False)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_a_queue_no_pool_could_ever_serve_is_critical_and_says_why(partner):
    key = PrivateKey.random()
    signing_key_import(private_key_hex=key.hex())
    EnergyPoolFactory(
        partner=partner,
        address=key.public_key.to_base58check_address(),
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=50_000,  # less than one transfer to a new holder
    )
    QueueEntryFactory(withdrawal=WithdrawalFactory(partner=partner), energy_needed=130_285)
    alerts_check(check_node=False)
    alert = open_alert("queue_backlog")
    assert alert.level == "critical"
    assert "1 can never be served" in alert.message
    assert "largest sending pool's limit is 50000" in alert.message


def test_low_trx_for_paid_emergency_withdrawals(devnet, partner):
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 5)
    devnet.mint(address, 1_000)
    signing_key_import(private_key_hex=key.hex())
    wallet = EnergyPoolFactory(
        partner=partner,
        address=address,
        energy_limit=0,
        custody=EnergyPool.Custody.CUSTODIAL,
        role=EnergyPool.Role.EMERGENCY,
    )
    pools_sync(queryset=EnergyPool.objects.filter(pk=wallet.pk))
    customer = CustomerFactory(partner=partner)
    balance_credit(customer=customer, currency="USDT", amount=Decimal(100), idempotency_key="u")
    balance_credit(customer=customer, currency="TRX", amount=Decimal(50), idempotency_key="t")
    fee = emergency_quote(
        customer=customer,
        to_address=PrivateKey.random().public_key.to_base58check_address(),
        amount=Decimal(10),
    )
    alerts_check(check_node=False)
    assert open_alert("low_trx") is None  # a quote nobody paid burns nothing
    emergency_confirm(withdrawal=fee.withdrawal, paid_with="balance")
    alerts_check(check_node=False)
    alert = open_alert("low_trx", pool=wallet)
    assert alert.level == "critical"
    assert (alert.value, alert.threshold) == (Decimal(5), Decimal(fee.quoted_fee_sun) / 10**6)
    devnet.fund(address, 100)
    pools_sync(queryset=EnergyPool.objects.filter(pk=wallet.pk))
    alerts_check(check_node=False)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_depletion_and_external_drain_raise_and_resolve(spent_pool):
    """The pool spent a transfer outside the platform (sync logged it as external): at that
    rate, less regeneration, what is left runs out within hours. Four hours on, the rate
    window is empty and energy has regenerated."""
    pool = spent_pool.pool
    now = pool.last_synced_at
    alerts_check(now=now, check_node=False)
    depletion = open_alert("depletion_forecast", pool=pool)
    assert depletion is not None
    assert depletion.value < 6
    assert depletion.level in ("warning", "critical")
    drain = open_alert("external_drain", pool=pool)
    assert drain.value == pool.usage_logs.get(kind="external").energy_used
    spent_pool.devnet.advance(4 * 3600)
    spent_pool.sync()
    alerts_check(now=spent_pool.pool.last_synced_at, check_node=False)
    depletion.refresh_from_db()
    drain.refresh_from_db()
    assert depletion.resolved_at is not None
    assert drain.resolved_at is not None


def test_depletion_counts_regeneration_and_the_queue():
    # 100,000 left, 20,000 queued, 30,000/h used, 10,000/h regenerating: 80,000 / 20,000.
    assert hours_until_depleted(
        available=100_000, queued=20_000, rate_per_hour=30_000, regeneration_per_hour=10_000
    ) == pytest.approx(4.0)
    assert (
        hours_until_depleted(
            available=100_000, queued=0, rate_per_hour=9_000, regeneration_per_hour=10_000
        )
        is None
    )
    assert hours_until_depleted(
        available=100_000, queued=100_000, rate_per_hour=0, regeneration_per_hour=1
    ) == pytest.approx(0.0)
    # Nothing left, but nothing waits or drains faster than it regenerates: nothing runs out.
    assert (
        hours_until_depleted(available=0, queued=0, rate_per_hour=5, regeneration_per_hour=10)
        is None
    )


def _steady_pools(n, partner):
    """`n` pools of every sort, each with a reason for an alert."""
    for i in range(n):
        pool = EnergyPoolFactory(
            partner=partner,
            energy_limit=1_000_000,
            energy_used=960_000 if i % 2 else 100_000,
            last_synced_at=timezone.now(),
        )
        EnergyUsageLogFactory(pool=pool, energy_used=50_000, at=timezone.now())
        QueueEntryFactory(withdrawal=WithdrawalFactory(partner=partner))
        EnergyPoolFactory(
            partner=partner,
            role=EnergyPool.Role.EMERGENCY,
            energy_limit=0,
            last_synced_at=timezone.now(),
        )


def _queries_of_a_steady_run():
    alerts_check(check_node=False)  # transitions for whatever is new
    with CaptureQueriesContext(connection) as ctx:
        alerts_check(check_node=False)
    return len(ctx.captured_queries)


def test_check_alerts_costs_a_constant_number_of_queries(partner, django_assert_num_queries):
    AlertChannelFactory(partner=partner, kind="email", target="ops@acme.test")
    _steady_pools(3, partner)
    few = _queries_of_a_steady_run()
    _steady_pools(30, partner)
    many = _queries_of_a_steady_run()
    assert EnergyAlert.objects.filter(resolved_at__isnull=True).count() > 60
    assert few == many
    # Pinned: open pool and partner alerts, usage rates, external usage, burns, pools, the
    # queue's facts once (per partner; unservable entries and their heads), the partners
    # with a queue, the forecasts' depletion and queue shares (pools, newest forecasts),
    # failed rental orders, paid rental orders (stuck or not), re-notification, lost
    # deliveries (values that changed add one bulk update).
    with django_assert_num_queries(16):
        alerts_check(check_node=False)


def test_the_job_runs_under_its_lease_and_records_its_run(partner):
    EnergyPoolFactory(partner=partner, energy_limit=100, energy_used=99)
    assert check_alerts() >= 1
    run = JobRun.objects.get(job="check_alerts")
    assert run.status == "succeeded"
    assert open_alert("usage").level == "emergency"


def test_unacknowledged_grave_alerts_are_renotified_every_30_minutes(partner):
    channel = AlertChannelFactory(partner=partner, kind="email", target="ops@acme.test")
    pool = EnergyPoolFactory(partner=partner)
    grave = alert_raise(
        partner_id=partner.pk, pool_id=pool.pk, kind="usage", level=Level.CRITICAL, message="m"
    )
    mild = alert_raise(
        partner_id=partner.pk, pool_id=pool.pk, kind="stale_sync", level=Level.WARNING, message="m"
    )
    acked = EnergyAlertFactory(pool=EnergyPoolFactory(partner=partner), level="emergency")
    alert_acknowledge(alert=acked, user_id=None, label="API key", note="on it")
    now = timezone.now()
    assert alerts_renotify(now=now + timedelta(minutes=29)) == 0
    EnergyAlert.objects.update(last_notified_at=now - timedelta(minutes=31))
    assert alerts_renotify(now=now) == 1
    assert alerts_renotify(now=now) == 0  # once per period
    grave.refresh_from_db()
    assert grave.sequence == 2
    assert list(
        AlertDelivery.objects.filter(channel=channel, alert=grave)
        .order_by("sequence")
        .values_list("event", flat=True)
    ) == ["opened", "renotified"]
    assert AlertDelivery.objects.filter(alert=mild).count() == 1


def test_an_escalation_clears_the_acknowledgement_and_notifies(partner):
    pool = EnergyPoolFactory(partner=partner)
    user = UserFactory()
    alert = alert_raise(
        partner_id=partner.pk, pool_id=pool.pk, kind="usage", level=Level.WARNING, message="m"
    )
    alert = alert_acknowledge(alert=alert, user_id=user.pk, label=user.username, note="seen")
    assert (alert.acknowledged_by_id, alert.acknowledged_note) == (user.pk, "seen")
    alert_raise(
        partner_id=partner.pk, pool_id=pool.pk, kind="usage", level=Level.CRITICAL, message="m"
    )
    alert.refresh_from_db()
    assert (alert.acknowledged_at, alert.acknowledged_by_label, alert.sequence) == (None, "", 2)


def test_every_transition_is_a_live_event(partner, django_capture_on_commit_callbacks, monkeypatch):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from alerts.services import alert_resolve
    from common import events
    from common.events import flush_live_events, partner_group

    # A hint late by its 2 s deadline is dropped by design; on a loaded test machine Redis
    # can be that slow, and this test is about every transition being sent.
    monkeypatch.setattr(events._Publisher, "DELIVERY_SECONDS", 30.0)

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(partner_group(partner.pk), channel)
    pool = EnergyPoolFactory(partner=partner)

    def raise_at(level):
        return alert_raise(
            partner_id=partner.pk,
            pool_id=pool.pk,
            kind="usage",
            level=level,
            message=f"at {level}",
            lower=True,
        )

    with django_capture_on_commit_callbacks(execute=True):
        alert = raise_at(Level.WARNING)
    for step in (
        lambda: raise_at(Level.EMERGENCY),
        lambda: raise_at(Level.CRITICAL),
        lambda: alert_acknowledge(alert=alert, user_id=None, label="key", note=""),
        lambda: alert_resolve(alert_id=alert.pk),
    ):
        with django_capture_on_commit_callbacks(execute=True):
            step()
    assert flush_live_events(timeout=10)

    async def receive(n):
        return [await layer.receive(channel) for _ in range(n)]

    messages = async_to_sync(receive)(5)
    assert [(m["event"], m["payload"]["level"]) for m in messages] == [
        ("alert.opened", "warning"),
        ("alert.escalated", "emergency"),
        ("alert.deescalated", "critical"),
        ("alert.acknowledged", "critical"),
        ("alert.resolved", "critical"),
    ]
    assert messages[-1]["payload"]["resolved"] is True


def test_depletion_follows_the_forecasts_pessimistic_side_when_there_is_one(partner):
    """A pool with a current forecast is judged by it (predictions), not the recent rate:
    no usage logged lately, yet the forecast's upper side drains it within the horizon."""
    from predictions.tests.factories import EnergyPredictionFactory

    now = timezone.now()
    made = now.replace(minute=0, second=0, microsecond=0)
    pool = EnergyPoolFactory(
        partner=partner, energy_limit=2_400_000, energy_used=1_900_000, last_synced_at=now
    )
    EnergyPredictionFactory(
        pool=pool,
        made_at=made,
        horizon_hours=168,
        series={"mean": [200_000] * 168, "lower": [150_000] * 168, "upper": [300_000] * 168},
    )
    alerts_check(now=now, check_node=False)
    alert = open_alert("depletion_forecast", pool=pool)
    assert alert is not None
    assert "forecast's pessimistic rate" in alert.message
    assert alert.value < 6  # hours left, within the partner's horizon
