"""The move from one queue per pool to one per partner (migration 0005), both ways, on data."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from partners.tests.factories import test_address as address_for


def states():
    """Every app at its newest, the withdrawals before and after the move."""
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    others = [leaf for leaf in leaves if leaf[0] != "withdrawals"]
    return (
        leaves,
        [*others, ("withdrawals", "0004_withdrawal_retry_of")],
        [*others, ("withdrawals", "0005_queue_entry_partner")],
    )


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_queue_entries_move_to_their_partner_and_back():
    leaves, before, after = states()
    try:
        apps = migrate(before)
        Partner = apps.get_model("partners", "Partner")
        User = apps.get_model("auth", "User")
        Customer = apps.get_model("partners", "Customer")
        EnergyPool = apps.get_model("pools", "EnergyPool")
        Withdrawal = apps.get_model("withdrawals", "Withdrawal")
        QueueEntry = apps.get_model("withdrawals", "QueueEntry")
        Reservation = apps.get_model("pools", "Reservation")
        partner = Partner.objects.create(name="Acme", slug="acme")
        pool = EnergyPool.objects.create(partner=partner, address=address_for("migrated-pool"))
        customer = Customer.objects.create(
            partner=partner, user=User.objects.create(username="u"), external_ref="u"
        )

        def withdrawal(status):
            return Withdrawal.objects.create(
                customer=customer,
                partner=partner,
                pool=pool,
                to_address=address_for(f"to-{status}"),
                amount=Decimal(1),
                status=status,
                energy_estimate=130_285,
            )

        waiting = withdrawal("queued")
        # Queued, with the reservation of an allocation cut short: it keeps its pool.
        orphan = withdrawal("queued")
        reserved = withdrawal("reserved")
        now = timezone.now()
        for queued in (waiting, orphan):
            QueueEntry.objects.create(
                withdrawal=queued, pool=pool, energy_needed=130_285, enqueued_at=now
            )
        Reservation.objects.create(
            pool=pool, withdrawal=orphan, estimated_energy=130_285, expires_at=now
        )

        apps = migrate(after)
        QueueEntry = apps.get_model("withdrawals", "QueueEntry")
        Withdrawal = apps.get_model("withdrawals", "Withdrawal")
        assert set(QueueEntry.objects.values_list("withdrawal_id", "partner_id")) == {
            (waiting.pk, partner.pk),
            (orphan.pk, partner.pk),
        }
        pools = dict(Withdrawal.objects.values_list("pk", "pool_id"))
        assert pools == {waiting.pk: None, orphan.pk: pool.pk, reserved.pk: pool.pk}

        apps = migrate(before)
        QueueEntry = apps.get_model("withdrawals", "QueueEntry")
        Withdrawal = apps.get_model("withdrawals", "Withdrawal")
        assert set(QueueEntry.objects.values_list("withdrawal_id", "pool_id")) == {
            (waiting.pk, pool.pk),
            (orphan.pk, pool.pk),
        }
        assert set(Withdrawal.objects.values_list("pool_id", flat=True)) == {pool.pk}
    finally:
        migrate(leaves)
