"""Alerts open once per condition, escalate, and resolve."""

import threading

import pytest
from django.db import connection

from alerts.models import EnergyAlert, Level
from alerts.services import alert_raise, alerts_resolve
from pools.tests.factories import EnergyPoolFactory


def raise_usage(pool, level):
    return alert_raise(
        partner_id=pool.partner_id,
        pool_id=pool.pk,
        kind="usage",
        level=level,
        message=f"usage {level}",
    )


@pytest.mark.django_db
def test_open_once_escalate_never_lower():
    pool = EnergyPoolFactory()
    first = raise_usage(pool, Level.WARNING)
    assert raise_usage(pool, Level.CRITICAL).pk == first.pk
    assert raise_usage(pool, Level.WARNING).level == Level.CRITICAL
    assert EnergyAlert.objects.count() == 1
    assert alerts_resolve(kind="usage", keep_pool_ids=set()) == 1
    assert raise_usage(pool, Level.WARNING).pk != first.pk


@pytest.mark.django_db
def test_escalation_asks_for_acknowledgement_again():
    from django.utils import timezone

    from partners.tests.factories import UserFactory

    pool = EnergyPoolFactory()
    alert = raise_usage(pool, Level.WARNING)
    EnergyAlert.objects.filter(pk=alert.pk).update(
        acknowledged_at=timezone.now(), acknowledged_by=UserFactory()
    )
    raise_usage(pool, Level.WARNING)  # the same level: still acknowledged
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None
    raise_usage(pool, Level.EMERGENCY)
    alert.refresh_from_db()
    assert (alert.level, alert.acknowledged_at, alert.acknowledged_by) == ("emergency", None, None)


@pytest.mark.django_db(transaction=True)
def test_concurrent_raisers_open_one_alert():
    pool = EnergyPoolFactory()
    barrier = threading.Barrier(6)

    def raiser():
        try:
            barrier.wait()
            raise_usage(pool, Level.WARNING)
        finally:
            connection.close()

    threads = [threading.Thread(target=raiser) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert EnergyAlert.objects.filter(pool=pool, resolved_at__isnull=True).count() == 1
