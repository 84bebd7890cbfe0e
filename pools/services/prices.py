"""Prices over time: the chain's fees and energy-rental quotes; TRX saved by pooled energy."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from common.readcache import cached_read, cached_shared, shared_changed
from pools.chain import chain_client
from pools.models import EnergyUsageLog, PriceQuote
from pools.pricing import rental_providers

logger = logging.getLogger(__name__)

CHAIN_SOURCE = "chain"
SAVING_KINDS = (EnergyUsageLog.Kind.WITHDRAWAL,)


def prices_monitor() -> int:
    """Record the chain's energy and bandwidth fees and every provider's rental quotes.

    A provider that fails is logged and skipped; the chain's fees are always recorded
    (or the run fails with `ChainUnavailable`). Returns the quotes recorded.
    """
    now = timezone.now()
    params = chain_client().chain_parameters()
    rows = [
        PriceQuote(
            source=CHAIN_SOURCE,
            kind=PriceQuote.Kind.ENERGY_FEE,
            price_sun=Decimal(params.energy_fee),
            quoted_at=now,
        ),
        PriceQuote(
            source=CHAIN_SOURCE,
            kind=PriceQuote.Kind.BANDWIDTH_FEE,
            price_sun=Decimal(params.transaction_fee),
            quoted_at=now,
        ),
    ]
    for path in settings.ENERGY_RENTAL_PROVIDERS:
        try:
            (provider,) = rental_providers([path])
            quotes = provider.quotes()
        except Exception:  # misconfigured or failing: the others and the chain still count
            logger.warning("rental provider %s failed", path, exc_info=True)
            continue
        rows += [
            PriceQuote(
                source=provider.name,
                kind=PriceQuote.Kind.RENTAL,
                price_sun=q.price_sun,
                duration_days=q.duration_days,
                min_energy=q.min_energy,
                quoted_at=now,
            )
            for q in quotes
            if q.price_sun > 0
        ]
    PriceQuote.objects.bulk_create(rows)
    shared_changed("prices")
    return len(rows)


LATEST_WINDOW = timedelta(days=1)


def latest_prices_cached() -> list[PriceQuote]:
    """`latest_prices`, shared by every dashboard for a few seconds or until the next
    `prices_monitor` run (common/readcache.py)."""
    return cached_shared(name="prices", compute=latest_prices)


def latest_prices() -> list[PriceQuote]:
    """The newest quote of each (source, kind, duration) recorded in the last day.

    Portable (no DISTINCT ON, so the embedded SQLite serves it too) and bounded: a day of
    quotes every five minutes is a few thousand rows at most.
    """
    newest: dict[tuple[str, str, int | None], PriceQuote] = {}
    recent = PriceQuote.objects.filter(quoted_at__gte=timezone.now() - LATEST_WINDOW)
    for quote in recent.order_by("-quoted_at", "-id"):
        newest.setdefault((quote.source, quote.kind, quote.duration_days), quote)
    return sorted(newest.values(), key=lambda q: (q.source, q.kind, q.duration_days or 0))


def trx_saved_sun(*, partner_id: int | None = None, since: datetime | None = None) -> int:
    """Sun not burned because withdrawals used pooled energy: each unit of stake energy they
    used, at the energy fee the chain charged then (the last recorded before it)."""
    fee_then = (
        PriceQuote.objects.filter(
            source=CHAIN_SOURCE, kind=PriceQuote.Kind.ENERGY_FEE, quoted_at__lte=OuterRef("at")
        )
        .order_by("-quoted_at")
        .values("price_sun")[:1]
    )
    logs = EnergyUsageLog.objects.filter(kind__in=SAVING_KINDS)
    if partner_id is not None:
        logs = logs.filter(pool__partner_id=partner_id)
    if since is not None:
        logs = logs.filter(at__gte=since)
    total = logs.annotate(
        fee=Coalesce(
            Subquery(fee_then, output_field=DecimalField(max_digits=20, decimal_places=6)),
            Value(Decimal(settings.DEFAULT_ENERGY_FEE_SUN)),
            output_field=DecimalField(max_digits=20, decimal_places=6),
        )
    ).aggregate(
        saved=Sum(
            F("energy_used") * F("fee"), output_field=DecimalField(max_digits=30, decimal_places=6)
        )
    )["saved"]
    return int(total or 0)


def partner_savings(partner_id: int, since: datetime) -> int:
    """`trx_saved_sun` of the partner since `since`, cached until its data changes.

    The sum prices every usage log at the fee then (a subquery per log), the costliest part
    of the monitor and the dashboard; it moves only when a withdrawal posts its usage, which
    gives the partner a new read version (common/readcache.py).
    """
    return cached_read(
        partner_id=partner_id,
        name="savings",
        compute=lambda: trx_saved_sun(partner_id=partner_id, since=since),
    )


def latest_energy_fee_sun() -> int:
    """The chain's energy price as last recorded by `monitor_prices` (or the default)."""
    latest = (
        PriceQuote.objects.filter(source=CHAIN_SOURCE, kind=PriceQuote.Kind.ENERGY_FEE)
        .order_by("-quoted_at")
        .values_list("price_sun", flat=True)
        .first()
    )
    return int(latest) if latest is not None else settings.DEFAULT_ENERGY_FEE_SUN
