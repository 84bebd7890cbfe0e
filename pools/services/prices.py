"""Recording prices over time: the chain's fees and energy-rental quotes (the reads of
them, and of the TRX pooled energy saved, are in `pools/selectors.py`)."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from common.readcache import shared_changed
from pools.chain import chain_client
from pools.models import PriceQuote
from pools.pricing import rental_providers
from pools.selectors import CHAIN_SOURCE

logger = logging.getLogger(__name__)


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
