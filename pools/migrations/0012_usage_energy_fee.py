from django.db import migrations, models


class Migration(migrations.Migration):
    """The column alone: nullable without a default, so PostgreSQL adds it without rewriting
    the table (a moment's lock). Its backfill and the covering index come next, outside any
    transaction (0013)."""

    dependencies = [
        ("pools", "0011_reserve"),
    ]

    operations = [
        migrations.AddField(
            model_name="energyusagelog",
            name="energy_fee_sun",
            field=models.DecimalField(blank=True, decimal_places=6, max_digits=20, null=True),
        ),
    ]
