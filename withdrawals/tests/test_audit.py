"""The expire_and_audit job: expiry, ledger invariants, alerts on breaches."""

from datetime import timedelta
from decimal import Decimal

import pytest

from alerts.models import EnergyAlert
from operations.models import JobRun
from pools.models import EnergyPool, Reservation
from pools.services.ledger import reservation_reserve
from pools.tests.factories import EnergyPoolFactory
from withdrawals.tasks import expire_and_audit
from withdrawals.tests.factories import BalanceFactory, HoldFactory, WithdrawalFactory

pytestmark = pytest.mark.django_db


def test_expires_unsigned_reservations_and_records_the_run():
    pool = EnergyPoolFactory(energy_limit=500_000)
    reservation_reserve(
        pool_id=pool.pk,
        withdrawal_id=WithdrawalFactory(partner=pool.partner).pk,
        energy=64_285,
        ttl=timedelta(seconds=-1),
    )
    assert expire_and_audit() == 1
    assert Reservation.objects.get().state == "voided"
    pool.refresh_from_db()
    assert pool.reserved_energy == 0
    assert JobRun.objects.get(job="expire_and_audit").status == "succeeded"
    assert not EnergyAlert.objects.exists()


def test_breach_opens_one_emergency_alert_until_repaired():
    pool = EnergyPoolFactory()
    EnergyPool.objects.filter(pk=pool.pk).update(reserved_energy=1_234)
    expire_and_audit()
    expire_and_audit()
    alert = EnergyAlert.objects.get()
    assert (alert.kind, alert.level, alert.pool_id) == ("ledger_invariant", "emergency", pool.pk)
    assert alert.partner_id == pool.partner_id
    assert alert.resolved_at is None
    EnergyPool.objects.filter(pk=pool.pk).update(reserved_energy=0)
    expire_and_audit()
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_held_balance_must_match_its_holds():
    hold = HoldFactory(amount=Decimal("10"))
    balance = hold.balance
    balance.held = Decimal("10")
    balance.save()
    expire_and_audit()
    assert not EnergyAlert.objects.exists()
    broken = BalanceFactory(held=Decimal("3"))  # held, but no hold behind it
    expire_and_audit()
    alert = EnergyAlert.objects.get()
    assert (alert.pool_id, alert.kind) == (None, "ledger_invariant")
    # Repaired: the partner-wide alert resolves, as pool alerts do.
    broken.held = Decimal("0")
    broken.save()
    expire_and_audit()
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def _audit_queries(pools: int) -> int:
    """Queries of a second audit run over `pools` standing pool breaches and as many
    balance breaches (their alerts already open)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from withdrawals.services.audit import expire_and_audit as audit

    for _ in range(pools):
        pool = EnergyPoolFactory()
        EnergyPool.objects.filter(pk=pool.pk).update(reserved_energy=1_234)
        BalanceFactory(held=Decimal("3"))
    audit()
    with CaptureQueriesContext(connection) as queries:
        audit()
    return len(queries)


def test_standing_breaches_cost_the_audit_no_query_each():
    """The audit reads breaches and open alerts once; an alert already raised for the same
    breach is not rewritten (it was one read and one write per breach and run)."""
    one = _audit_queries(1)
    EnergyAlert.objects.all().delete()
    EnergyPool.objects.update(reserved_energy=0)
    from withdrawals.models import Balance

    Balance.objects.update(held=Decimal("0"))
    assert _audit_queries(5) == one
    assert EnergyAlert.objects.filter(resolved_at__isnull=True).count() == 5 + 5


def _alert_writes(run) -> list[str]:
    """The statements of `run()` that write to an alerts table."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        run()
    return [
        q["sql"]
        for q in queries.captured_queries
        if '"alerts_' in q["sql"] and not q["sql"].lstrip().upper().startswith("SELECT")
    ]


def test_a_partners_standing_balance_breaches_are_one_stable_alert():
    """Two broken balances of one partner share the partner's one open alert (one open
    alert per partner and kind, alerts/models.py): it names both, and a second run rewrites
    nothing (it was rewritten back and forth between the two messages every run)."""
    from partners.tests.factories import CustomerFactory, PartnerFactory
    from withdrawals.services.audit import expire_and_audit as audit

    partner = PartnerFactory()
    first, second = (
        BalanceFactory(customer=CustomerFactory(partner=partner), held=Decimal("3"))
        for _ in range(2)
    )
    assert audit() == 2  # each balance counts as a breach found
    alert = EnergyAlert.objects.get()
    assert (alert.partner_id, alert.pool_id) == (partner.pk, None)
    stamp = (alert.updated_at, alert.sequence, alert.message)
    assert _alert_writes(audit) == []
    alert.refresh_from_db()
    assert (alert.updated_at, alert.sequence, alert.message) == stamp
    assert alert.message == (
        f"Balances {first.pk}, {second.pk}: held amounts differ from their open holds."
    )

    # One mended: the same alert now names the other only (an update, no new transition).
    first.held = Decimal("0")
    first.save()
    audit()
    alert.refresh_from_db()
    assert (alert.resolved_at, alert.sequence) == (None, stamp[1])
    assert alert.message == f"Balance {second.pk}: held amount differs from its open holds."
    assert _alert_writes(audit) == []

    # Both mended: resolved.
    second.held = Decimal("0")
    second.save()
    audit()
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert EnergyAlert.objects.count() == 1
