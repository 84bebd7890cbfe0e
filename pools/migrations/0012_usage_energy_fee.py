from decimal import Decimal

from django.conf import settings
from django.db import migrations, models
from django.db.models import DecimalField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce


def record_fees(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Each existing log's fee, as the savings reads priced it until now: the chain's last
    recorded energy fee at or before the log, else the default."""
    log_model = apps.get_model("pools", "EnergyUsageLog")
    quote_model = apps.get_model("pools", "PriceQuote")
    fee = DecimalField(max_digits=20, decimal_places=6)
    fee_then = (
        quote_model.objects.filter(source="chain", kind="energy_fee", quoted_at__lte=OuterRef("at"))
        .order_by("-quoted_at")
        .values("price_sun")[:1]
    )
    log_model.objects.filter(energy_fee_sun__isnull=True).update(
        energy_fee_sun=Coalesce(
            Subquery(fee_then, output_field=fee),
            Value(Decimal(settings.DEFAULT_ENERGY_FEE_SUN)),
            output_field=fee,
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("pools", "0011_reserve"),
    ]

    operations = [
        migrations.AddField(
            model_name="energyusagelog",
            name="energy_fee_sun",
            field=models.DecimalField(blank=True, decimal_places=6, max_digits=20, null=True),
        ),
        migrations.RunPython(record_fees, migrations.RunPython.noop),
        # The week's usage and the savings read from the index alone (pools/models.py).
        migrations.RemoveIndex(model_name="energyusagelog", name="usage_pool_time"),
        migrations.AddIndex(
            model_name="energyusagelog",
            index=models.Index(
                fields=["pool", "-at"],
                include=("kind", "energy_used", "energy_fee_sun"),
                name="usage_pool_time",
            ),
        ),
    ]
