"""One queue per partner instead of one per pool (issue 14): a queue entry belongs to the
partner, and a queued withdrawal has no pool until allocation picks one of the partner's."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def forward(apps, schema_editor):
    QueueEntry = apps.get_model("withdrawals", "QueueEntry")
    Withdrawal = apps.get_model("withdrawals", "Withdrawal")
    QueueEntry.objects.update(
        partner_id=Subquery(
            Withdrawal.objects.filter(pk=OuterRef("withdrawal_id")).values("partner_id")[:1]
        )
    )
    # A queued withdrawal that already holds a pending reservation (an allocation cut short)
    # keeps its pool: the next allocation run adopts it on that pool.
    Reservation = apps.get_model("pools", "Reservation")
    pending = Reservation.objects.filter(withdrawal_id=OuterRef("pk"), state="pending")
    Withdrawal.objects.filter(status="queued").exclude(models.Exists(pending)).update(pool=None)


def backward(apps, schema_editor):
    """Each entry back on a pool: its withdrawal's, else the partner's first energy pool."""
    QueueEntry = apps.get_model("withdrawals", "QueueEntry")
    Withdrawal = apps.get_model("withdrawals", "Withdrawal")
    EnergyPool = apps.get_model("pools", "EnergyPool")
    first_pool = (
        EnergyPool.objects.filter(partner_id=OuterRef("partner_id"))
        .order_by(models.Case(models.When(role="energy", then=0), default=1), "pk")
        .values("pk")[:1]
    )
    Withdrawal.objects.filter(status="queued", pool__isnull=True).update(pool=Subquery(first_pool))
    QueueEntry.objects.update(
        pool_id=Subquery(
            Withdrawal.objects.filter(pk=OuterRef("withdrawal_id")).values("pool_id")[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0001_initial"),
        ("pools", "0007_staking_operation_dead_checks"),
        ("withdrawals", "0004_withdrawal_retry_of"),
    ]

    operations = [
        migrations.AlterField(
            model_name="queueentry",
            name="pool",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="queue_entries",
                to="pools.energypool",
            ),
        ),
        migrations.AddField(
            model_name="queueentry",
            name="partner",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="queue_entries",
                to="partners.partner",
            ),
        ),
        migrations.RunPython(forward, backward),
        migrations.AlterField(
            model_name="queueentry",
            name="partner",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="queue_entries",
                to="partners.partner",
            ),
        ),
        migrations.RemoveIndex(model_name="queueentry", name="queue_pool_order"),
        migrations.RemoveField(model_name="queueentry", name="pool"),
        migrations.AddIndex(
            model_name="queueentry",
            index=models.Index(
                fields=["partner", "enqueued_at", "id"], name="queue_partner_order"
            ),
        ),
    ]
