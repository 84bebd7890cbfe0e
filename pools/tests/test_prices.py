"""Chain fees and rental quotes over time, and the TRX pooled energy saved."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from pools.models import EnergyUsageLog, PriceQuote
from pools.selectors import energy_fee_at, latest_prices, trx_saved_sun
from pools.services.prices import prices_monitor
from pools.tasks import monitor_prices
from pools.tests.factories import EnergyPoolFactory, EnergyUsageLogFactory, PriceQuoteFactory

pytestmark = pytest.mark.django_db


def test_monitor_records_chain_fees_and_devnet_rental_quotes(devnet):
    devnet.params(getEnergyFee=210)
    assert prices_monitor() == 2 + 4
    fees = {q.kind: q.price_sun for q in PriceQuote.objects.filter(source="chain")}
    assert fees == {"energy_fee": Decimal(210), "bandwidth_fee": Decimal(1000)}
    rentals = PriceQuote.objects.filter(kind="rental").order_by("duration_days")
    assert [r.duration_days for r in rentals] == [1, 3, 7, 30]
    assert all(r.price_sun < 210 for r in rentals)  # renting beats burning
    assert rentals[0].price_sun == Decimal("84")  # 40 % of the live fee


def test_a_failing_provider_does_not_stop_the_others(devnet, settings):
    settings.ENERGY_RENTAL_PROVIDERS = [
        "pools.tests.test_prices.BrokenProvider",
        "pools.pricing.DevnetRentalProvider",
    ]
    assert prices_monitor() == 6


class BrokenProvider:
    name = "broken"

    def quotes(self):
        raise RuntimeError("market API down")


def test_monitor_task_records_a_job_run(devnet):
    assert monitor_prices() == 6
    assert PriceQuote.objects.count() == 6


def test_latest_prices_are_the_newest_per_series(devnet):
    prices_monitor()
    devnet.params(getEnergyFee=100)
    prices_monitor()
    latest = {(q.source, q.kind, q.duration_days): q for q in latest_prices()}
    assert len(latest) == 6
    assert latest[("chain", "energy_fee", None)].price_sun == Decimal(100)


def test_trx_saved_uses_the_fee_of_the_time(partner):
    pool = EnergyPoolFactory(partner=partner)
    now = timezone.now()
    PriceQuoteFactory(price_sun=Decimal(420), quoted_at=now - timedelta(days=10))
    PriceQuoteFactory(price_sun=Decimal(100), quoted_at=now - timedelta(days=2))
    EnergyUsageLogFactory(
        pool=pool, kind="withdrawal", energy_used=64_285, at=now - timedelta(days=5)
    )  # at 420 sun
    EnergyUsageLogFactory(
        pool=pool, kind="withdrawal", energy_used=130_285, at=now - timedelta(days=1)
    )  # at 100 sun
    EnergyUsageLogFactory(pool=pool, kind=EnergyUsageLog.Kind.EXTERNAL, energy_used=10**6)
    EnergyUsageLogFactory(kind="withdrawal", energy_used=10**6)  # another partner's
    assert trx_saved_sun(partner_id=partner.pk) == 64_285 * 420 + 130_285 * 100
    assert trx_saved_sun(partner_id=partner.pk, since=now - timedelta(days=3)) == 130_285 * 100


def test_prices_and_savings_through_the_api(devnet, partner, key_client, outsider_key_client):
    prices_monitor()
    body = key_client.get("/api/v1/energy/prices").json()
    assert {p["kind"] for p in body} == {"energy_fee", "bandwidth_fee", "rental"}
    EnergyUsageLogFactory(
        pool=EnergyPoolFactory(partner=partner), kind="withdrawal", energy_used=64_285
    )
    saved = key_client.get(f"/api/v1/energy/monitor/{partner.pk}").json()["savings"]
    assert saved["trx_saved_sun"] == 64_285 * 100
    theirs = outsider_key_client.get(f"/api/v1/energy/monitor/{partner.pk}")
    assert theirs.status_code == 404


def test_a_log_prices_its_savings_at_the_fee_it_recorded(partner):
    """A usage log keeps the fee in force when it was written (`energy_fee_at`); the savings
    use it, not the quotes as they stand later (thinned, or recorded late)."""
    pool = EnergyPoolFactory(partner=partner)
    now = timezone.now()
    assert energy_fee_at(now) == settings.DEFAULT_ENERGY_FEE_SUN  # nothing recorded yet
    PriceQuoteFactory(price_sun=Decimal(420), quoted_at=now - timedelta(days=10))
    assert energy_fee_at(now) == 420
    assert energy_fee_at(now - timedelta(days=11)) == settings.DEFAULT_ENERGY_FEE_SUN
    EnergyUsageLogFactory(
        pool=pool,
        kind="withdrawal",
        energy_used=1_000,
        energy_fee_sun=Decimal(280),
        at=now - timedelta(days=1),
    )
    EnergyUsageLogFactory(  # recorded none: looked up, 420
        pool=pool, kind="withdrawal", energy_used=10, at=now - timedelta(days=1)
    )
    assert trx_saved_sun(partner_id=partner.pk) == 1_000 * 280 + 10 * 420


def test_the_migration_records_each_logs_fee_as_the_reads_priced_it(partner):
    """pools/migrations/0013: existing withdrawal logs get the fee the savings reads looked
    up for them (the last quote at or before the log, else the default), batch by batch;
    logs that have one keep it, other kinds are left alone (the savings never price them)."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("pools.migrations.0013_usage_fee_backfill_and_index")
    migration.BATCH = 2  # several batches
    pool = EnergyPoolFactory(partner=partner)
    now = timezone.now()
    PriceQuoteFactory(price_sun=Decimal(420), quoted_at=now - timedelta(days=10))
    PriceQuoteFactory(price_sun=Decimal(100), quoted_at=now - timedelta(days=2))
    logs = [
        EnergyUsageLogFactory(pool=pool, kind="withdrawal", at=now - timedelta(days=days))
        for days in (20, 5, 1)
    ]
    kept = EnergyUsageLogFactory(pool=pool, kind="withdrawal", energy_fee_sun=Decimal(7))
    external = EnergyUsageLogFactory(pool=pool, kind=EnergyUsageLog.Kind.EXTERNAL)
    before = trx_saved_sun(partner_id=partner.pk)
    migration.record_fees(apps, None)
    assert EnergyUsageLog.objects.get(pk=external.pk).energy_fee_sun is None
    fees = [EnergyUsageLog.objects.get(pk=log.pk).energy_fee_sun for log in logs]
    assert fees == [settings.DEFAULT_ENERGY_FEE_SUN, 420, 100]
    assert EnergyUsageLog.objects.get(pk=kept.pk).energy_fee_sun == 7
    assert trx_saved_sun(partner_id=partner.pk) == before
