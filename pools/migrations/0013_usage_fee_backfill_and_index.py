from decimal import Decimal

from django.conf import settings
from django.db import migrations, models
from django.db.models import DecimalField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from common.migration_operations import AddIndexOnline, RemoveIndexOnline

BATCH = 10_000


def record_fees(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Each existing withdrawal log's fee (the only kind the savings price), as the savings
    reads priced it until now: the chain's last recorded energy fee at or before the log,
    else the default. In batches of ids, each committed on its own (this migration runs
    outside a transaction), so no lock is held on the table for long; logs written
    meanwhile already carry their fee."""
    log_model = apps.get_model("pools", "EnergyUsageLog")
    quote_model = apps.get_model("pools", "PriceQuote")
    fee = DecimalField(max_digits=20, decimal_places=6)
    fee_then = (
        quote_model.objects.filter(source="chain", kind="energy_fee", quoted_at__lte=OuterRef("at"))
        .order_by("-quoted_at")
        .values("price_sun")[:1]
    )
    missing = log_model.objects.filter(kind="withdrawal", energy_fee_sun__isnull=True)
    last = 0
    while True:
        ids = list(
            missing.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:BATCH]
        )
        if not ids:
            return
        log_model.objects.filter(pk__in=ids, energy_fee_sun__isnull=True).update(
            energy_fee_sun=Coalesce(
                Subquery(fee_then, output_field=fee),
                Value(Decimal(settings.DEFAULT_ENERGY_FEE_SUN)),
                output_field=fee,
            )
        )
        last = ids[-1]


class Migration(migrations.Migration):
    # Concurrent index builds and a batched backfill: the platform keeps writing usage
    # logs while this runs (common/migration_operations.py).
    atomic = False

    dependencies = [
        ("pools", "0012_usage_energy_fee"),
    ]

    operations = [
        migrations.RunPython(record_fees, migrations.RunPython.noop, atomic=False),
        # The week's usage and the savings read from the index alone (pools/models.py); the
        # new index is built before the old one goes, so no read is ever without one.
        AddIndexOnline(
            model_name="energyusagelog",
            index=models.Index(
                fields=["pool", "-at"],
                include=("kind", "energy_used", "energy_fee_sun"),
                name="usage_pool_recent_cover",
            ),
        ),
        RemoveIndexOnline(model_name="energyusagelog", name="usage_pool_time"),
    ]
