from django.db import migrations, models

from common.migration_operations import AddIndexOnline, RemoveIndexOnline


class Migration(migrations.Migration):
    """The newest-first indexes carry the id tie-break the lists order by, and the open
    withdrawals of a partner get their own (the dashboard's counts). Built concurrently,
    each new index before the old one goes, so intake and sending never wait on the
    withdrawals table while this runs (common/migration_operations.py)."""

    atomic = False

    dependencies = [
        ("partners", "0010_partner_rental_budgets"),
        ("withdrawals", "0007_withdrawal_request_id"),
    ]

    operations = [
        AddIndexOnline(
            model_name="withdrawal",
            index=models.Index(
                fields=["partner", "-created_at", "-id"], name="withdrawal_partner_newest"
            ),
        ),
        RemoveIndexOnline(model_name="withdrawal", name="withdrawal_partner_recent"),
        AddIndexOnline(
            model_name="withdrawal",
            index=models.Index(
                fields=["customer", "-created_at", "-id"], name="withdrawal_customer_newest"
            ),
        ),
        RemoveIndexOnline(model_name="withdrawal", name="withdrawal_customer_recent"),
        AddIndexOnline(
            model_name="withdrawal",
            index=models.Index(
                condition=~models.Q(status__in=["confirmed", "failed", "cancelled"]),
                fields=["partner", "status"],
                name="withdrawal_partner_open",
            ),
        ),
    ]
