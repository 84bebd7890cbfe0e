"""Deliveries to real local receivers: signed webhooks checked by the README's recipe,
retries with every try logged, a hanging receiver that delays nobody, apprise for real."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from alerts.models import AlertDelivery, AlertDeliveryAttempt, EnergyAlert, Level
from alerts.services import alert_raise
from alerts.services.channels import webhook_secret_rotate
from alerts.services.delivery import (
    backoff_seconds,
    deliveries_requeue_stuck,
    delivery_try,
)
from alerts.tests.factories import AlertChannelFactory
from alerts.tests.receiver import receiver
from pools.tests.factories import EnergyPoolFactory

ROOT = Path(__file__).resolve().parents[2]


def readme_verify():
    """The receiver's `verify` exactly as README.md shows it."""
    text = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- webhook-recipe -->\n```python\n(.*?)```\n<!-- /webhook-recipe -->", text, re.S
    )
    assert block, "README lost its webhook recipe"
    namespace: dict[str, object] = {}
    exec(block.group(1), namespace)  # noqa: S102 - our own README, run as documentation
    return namespace["verify"]


def open_alert(pool, level=Level.CRITICAL, kind="usage"):
    return alert_raise(
        partner_id=pool.partner_id,
        pool_id=pool.pk,
        kind=kind,
        level=level,
        message="Pool uses 96% of its energy.",
        value=96,
        threshold=95,
    )


def delivery_for(channel) -> AlertDelivery:
    return AlertDelivery.objects.get(channel=channel)


@pytest.mark.django_db
def test_webhook_is_signed_and_the_readme_recipe_verifies_it(partner):
    secret = webhook_secret_rotate(partner=partner)
    verify = readme_verify()
    pool = EnergyPoolFactory(partner=partner)
    with receiver() as hook:
        channel = AlertChannelFactory(partner=partner, kind="webhook", target=f"{hook.url}/alerts")
        alert = open_alert(pool)
        delivery = delivery_for(channel)
        result = delivery_try(delivery_id=delivery.pk)
        assert result is not None
        assert result.status == "sent"
        [request] = hook.requests
    body = verify(secret, request.headers, request.body)
    assert body["delivery_id"] == str(delivery.uid) == request.headers["X-Energy-Delivery"]
    assert (body["event"], body["alert"]["id"], body["alert"]["level"]) == (
        "opened",
        alert.pk,
        "critical",
    )
    assert body["alert"]["pool_address"] == pool.address
    with pytest.raises(ValueError, match="stale"):  # a replay, 5 min and a second later
        verify(secret, request.headers, request.body, now=time.time() + 301)
    with pytest.raises(ValueError, match="signature"):
        verify(secret, request.headers, request.body.replace(b"critical", b"warning"))
    with pytest.raises(ValueError, match="signature"):
        verify("another secret", request.headers, request.body)
    # Sent: a second task for it finds nothing to do.
    assert delivery_try(delivery_id=delivery.pk) is None
    try_ = AlertDeliveryAttempt.objects.get(delivery=delivery)
    assert (try_.number, try_.outcome, try_.status_code, try_.error) == (1, "sent", 200, "")


@pytest.mark.django_db
def test_a_500_then_200_receiver_is_retried_and_every_try_logged(partner, settings):
    settings.ALERT_DELIVERY_BACKOFF_SECONDS = 0.05
    webhook_secret_rotate(partner=partner)
    with receiver(codes=[500, 503, 200]) as hook:
        channel = AlertChannelFactory(partner=partner, kind="webhook", target=hook.url)
        open_alert(EnergyPoolFactory(partner=partner))
        delivery = delivery_for(channel)
        first = delivery_try(delivery_id=delivery.pk)
        assert first is not None
        assert first.status == "pending"
        assert 0.025 <= first.retry_in <= 0.05
        assert delivery_try(delivery_id=delivery.pk) is None  # not due yet: nothing sent
        assert len(hook.requests) == 1
        time.sleep(first.retry_in)
        second = delivery_try(delivery_id=delivery.pk)
        assert second is not None
        assert 0.05 <= second.retry_in <= 0.1  # doubled
        time.sleep(second.retry_in)
        assert delivery_try(delivery_id=delivery.pk).status == "sent"
        ids = {r.headers["X-Energy-Delivery"] for r in hook.requests}
    assert ids == {str(delivery.uid)}  # one id on every try: the receiver can dedupe
    tries = list(
        AlertDeliveryAttempt.objects.filter(delivery=delivery).values_list(
            "number", "outcome", "status_code", "error"
        )
    )
    assert tries == [
        (1, "failed", 500, "HTTP 500"),
        (2, "failed", 503, "HTTP 503"),
        (3, "sent", 200, ""),
    ]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 3, "")


@pytest.mark.django_db
def test_a_receiver_that_always_fails_is_given_up_after_the_limit(partner, settings):
    settings.ALERT_DELIVERY_BACKOFF_SECONDS = 0.01
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 3
    webhook_secret_rotate(partner=partner)
    with receiver(codes=[500] * 10) as hook:
        channel = AlertChannelFactory(partner=partner, kind="webhook", target=hook.url)
        open_alert(EnergyPoolFactory(partner=partner))
        delivery = delivery_for(channel)
        while (result := delivery_try(delivery_id=delivery.pk)) is None or result.retry_in:
            time.sleep(0.02)
    assert result.status == "failed"
    assert AlertDeliveryAttempt.objects.filter(delivery=delivery).count() == 3
    assert len(hook.requests) == 3


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap(settings):
    settings.ALERT_DELIVERY_BACKOFF_SECONDS = 10
    settings.ALERT_DELIVERY_BACKOFF_MAX_SECONDS = 100
    samples = {n: [backoff_seconds(n) for _ in range(200)] for n in (1, 2, 3, 10)}
    assert all(5 <= s <= 10 for s in samples[1])
    assert all(10 <= s <= 20 for s in samples[2])
    assert all(20 <= s <= 40 for s in samples[3])
    assert all(50 <= s <= 100 for s in samples[10])
    assert len(set(samples[3])) > 100  # jittered, not one value


@pytest.mark.django_db(transaction=True)
def test_a_hanging_receiver_times_out_while_email_goes_at_once(partner, settings):
    settings.ALERT_DELIVERY_TIMEOUT_SECONDS = 1.5
    webhook_secret_rotate(partner=partner)
    with receiver(hang_seconds=5) as hook:
        webhook = AlertChannelFactory(partner=partner, kind="webhook", target=hook.url)
        email = AlertChannelFactory(partner=partner, kind="email", target="ops@acme.test")
        open_alert(EnergyPoolFactory(partner=partner))
        done: dict[str, float] = {}
        start = time.monotonic()

        def worker(channel, name):  # each delivery is its own task, as on Celery workers
            try:
                delivery_try(delivery_id=delivery_for(channel).pk)
                done[name] = time.monotonic() - start
            finally:
                connection.close()

        threads = [
            threading.Thread(target=worker, args=(webhook, "webhook")),
            threading.Thread(target=worker, args=(email, "email")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert done["email"] < 1.0, done
    assert 1.5 <= done["webhook"] < 4, done
    assert [m.to for m in mail.outbox] == [["ops@acme.test"]]
    hung = AlertDeliveryAttempt.objects.get(delivery__channel=webhook)
    assert (hung.outcome, hung.status_code) == ("timeout", None)
    assert hung.duration_ms >= 1500
    assert hung.error == "no answer within 1.5 s"
    assert delivery_for(webhook).status == "pending"  # retried later
    assert delivery_for(email).status == "sent"


@pytest.mark.django_db(transaction=True)
def test_twin_tasks_for_one_delivery_send_it_once(partner):
    webhook_secret_rotate(partner=partner)
    with receiver(hang_seconds=0.3) as hook:
        channel = AlertChannelFactory(partner=partner, kind="webhook", target=hook.url)
        open_alert(EnergyPoolFactory(partner=partner))
        pk = delivery_for(channel).pk
        barrier = threading.Barrier(4)

        def twin():
            try:
                barrier.wait()
                delivery_try(delivery_id=pk)
            finally:
                connection.close()

        threads = [threading.Thread(target=twin) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(hook.requests) == 1
    assert AlertDeliveryAttempt.objects.filter(delivery_id=pk).count() == 1


@pytest.mark.django_db
def test_a_delivery_whose_worker_died_is_sent_again_by_the_sweep(partner, eager_celery):
    email = AlertChannelFactory(partner=partner, kind="email", target="ops@acme.test")
    open_alert(EnergyPoolFactory(partner=partner))
    delivery = delivery_for(email)
    # A worker claimed it (try 1 leased) and died before sending anything.
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        attempts=1, next_retry_at=timezone.now() - timedelta(minutes=10)
    )
    assert deliveries_requeue_stuck() == 1  # eager Celery: the task runs now
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert mail.outbox[0].extra_headers["X-Energy-Delivery"] == str(delivery.uid)
    assert deliveries_requeue_stuck() == 0


@pytest.mark.django_db
def test_apprise_posts_to_a_real_json_target(partner):
    with receiver() as chat:
        channel = AlertChannelFactory(
            partner=partner, kind="apprise", target=f"json://127.0.0.1:{chat.port}/notify"
        )
        open_alert(EnergyPoolFactory(partner=partner), level=Level.EMERGENCY)
        delivery = delivery_for(channel)
        assert delivery_try(delivery_id=delivery.pk).status == "sent"
        [request] = chat.requests
    assert request.path == "/notify"
    body = json.loads(request.body)
    assert "EMERGENCY" in body["title"]
    assert "96%" in body["message"]
    assert str(delivery.uid) in body["message"]


@pytest.mark.django_db
def test_tokens_never_reach_errors_or_logs(partner, caplog):
    token = "123456789:AAE-very-secret-bot-token"
    with receiver(codes=[500]) as chat:
        channel = AlertChannelFactory(
            partner=partner,
            kind="apprise",
            target=f"json://127.0.0.1:{chat.port}/{token}",
            name="ops chat",
        )
        open_alert(EnergyPoolFactory(partner=partner))
        with caplog.at_level(logging.INFO):  # the deployed LOG_LEVEL
            result = delivery_try(delivery_id=delivery_for(channel).pk)
    assert result.status == "pending"
    failed = AlertDeliveryAttempt.objects.get(delivery__channel=channel)
    assert failed.outcome == "failed"
    assert token not in failed.error
    assert token not in delivery_for(channel).last_error
    assert token not in caplog.text
    assert channel.target_masked == "json://127.0.0.1/***"


@pytest.mark.django_db
def test_channels_filter_by_level_and_kind(partner):
    pool = EnergyPoolFactory(partner=partner)
    grave_only = AlertChannelFactory(partner=partner, kind="email", min_level="critical")
    backlog_only = AlertChannelFactory(partner=partner, kind="email", kinds=["queue_backlog"])
    everything = AlertChannelFactory(partner=partner, kind="email")
    off = AlertChannelFactory(partner=partner, kind="email", is_active=False)
    open_alert(pool, level=Level.WARNING)
    open_alert(pool, level=Level.CRITICAL)  # escalated
    counts = {
        name: AlertDelivery.objects.filter(channel=channel).count()
        for name, channel in [
            ("grave", grave_only),
            ("backlog", backlog_only),
            ("all", everything),
            ("off", off),
        ]
    }
    assert counts == {"grave": 1, "backlog": 0, "all": 2, "off": 0}
    assert EnergyAlert.objects.get().sequence == 2


@pytest.mark.django_db
def test_partners_targets_on_private_addresses_are_refused_in_production(partner, settings):
    settings.ALERT_ALLOW_PRIVATE_TARGETS = False
    webhook_secret_rotate(partner=partner)
    with receiver() as hook:
        webhook = AlertChannelFactory(partner=partner, kind="webhook", target=hook.url)
        chat = AlertChannelFactory(
            partner=partner, kind="apprise", target=f"json://127.0.0.1:{hook.port}/"
        )
        operators = AlertChannelFactory(partner=None, kind="webhook", target=hook.url)
        settings.ALERT_OPERATOR_WEBHOOK_SECRET = "operators-secret"
        open_alert(EnergyPoolFactory(partner=partner))
        for channel in (webhook, chat, operators):
            delivery_try(delivery_id=delivery_for(channel).pk)
        assert len(hook.requests) == 1  # the operators' own channel only
    for channel in (webhook, chat):
        failed = AlertDeliveryAttempt.objects.get(delivery__channel=channel)
        assert failed.error == "the host is a private address: refused"
    assert delivery_for(operators).status == "sent"
