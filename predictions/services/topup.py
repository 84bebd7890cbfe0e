"""The `topup_pools` job: rent energy for pools the forecast says run dry, for what the
partner's own pools cannot lend them first (rebalance.py).

Mechanics of an order (plan, pay, order, delivery) are in pools/services/rentals.py and
docs/protocols.md (Energy rental)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from partners.models import Partner
from pools.chain import ChainUnavailable, chain_client
from pools.models import EnergyPool, EnergyShare, PriceQuote
from pools.pricing import MarketOffer, RentalProviderError, ordering_provider
from pools.services.rentals import rental_order_advance, rental_order_plan, rental_orders_drive
from predictions.selectors import (
    DepletionEstimate,
    latest_forecasts,
    network_energy_per_trx,
    pool_depletion_estimates,
)
from predictions.services.rebalance import IN_FLIGHT, rebalance_plan

logger = logging.getLogger(__name__)

ENERGY_STEP = 1_000  # rental orders are rounded up to this much energy


@dataclass(frozen=True)
class TopupReport:
    """What one `topup_pools` run did: orders planned (and paid for), orders that moved on,
    and why each short pool got no order."""

    planned: int
    advanced: int
    skipped: dict[int, str]


def _newest_price(
    *, kind: str, source: str | None = None, days: int | None = None
) -> Decimal | None:
    quotes = PriceQuote.objects.filter(kind=kind)
    if source is not None:
        quotes = quotes.filter(source=source, duration_days=days)
    newest = quotes.order_by("-quoted_at", "-id").values_list("price_sun", flat=True).first()
    return newest


def _lacking(estimate: DepletionEstimate) -> int:
    """Energy the pool lacks over the estimate's horizon: what its share of the queue waits
    for beyond its available energy now, and the pessimistic forecast's shortfall."""
    return max(0, -int(estimate.available)) + int(estimate.shortfall)


def _sharing_first(short: list[EnergyPool], *, now: datetime) -> dict[int, str]:
    """The short pools energy sharing serves before anything is rented, with why.

    Lending between a partner's own pools costs no TRX, so a pool is not rented for while a
    loan to it is on its way (planned or delegating), nor when the sharing plan of this very
    minute (`rebalance_plan`, as `rebalance_pools` makes it) lends to it. Once a loan has
    arrived the pool's limit has grown and its depletion estimate says whether it is still
    short: only what sharing cannot cover is rented. When the chain cannot be asked for the
    plan's numbers, no pool of a partner that shares is rented for this run (the next run
    asks again): a rented order would cost what a loan might have covered for free.
    """
    skipped: dict[int, str] = {}
    on_the_way = EnergyShare.objects.filter(
        receiver_id__in=[pool.pk for pool in short], state__in=IN_FLIGHT
    ).values_list("receiver_id", "donor_id", "energy")
    for receiver_id, donor_id, energy in on_the_way:
        skipped[receiver_id] = f"sharing first: {energy} energy from pool {donor_id} on its way"
    sharing = set(
        Partner.objects.filter(
            pk__in={pool.partner_id for pool in short if pool.pk not in skipped},
            sharing_enabled=True,
        ).values_list("pk", flat=True)
    )
    waiting = [pool for pool in short if pool.partner_id in sharing and pool.pk not in skipped]
    if not waiting:
        return skipped
    try:
        ratio = network_energy_per_trx(pools=waiting[:1])
        head = chain_client().head_block().number
    except ChainUnavailable as exc:
        for pool in waiting:
            skipped[pool.pk] = f"sharing first: its plan needs the chain ({exc})"
        return skipped
    if ratio is None:
        return skipped  # no network ratio: sharing cannot lend this run either
    plan = rebalance_plan(energy_per_trx=ratio, head_block=head, now=now, partner_ids=sharing)
    wanted = {pool.pk for pool in waiting}
    for move in plan.moves:
        if move.receiver_id in wanted:
            skipped[move.receiver_id] = (
                f"sharing first: pool {move.donor_id} lends it {move.energy} energy"
            )
    return skipped


def pools_topup(*, now: datetime | None = None) -> TopupReport:
    """The `topup_pools` job: rent energy for pools the forecast says run dry.

    First every open order is taken a step further (pools/services/rentals.py). Then, for each
    active custodial energy pool of a partner with both rental budgets set: when the newest
    week forecast (current, made within RECENT_FORECAST_HOURS) has the pool run out, at its
    pessimistic side, within `TOPUP_HORIZON_HOURS` — before a day's regeneration — the
    expected volume is what its queue share waits for now plus the forecast's shortfall over
    the rental's `TOPUP_RENTAL_DAYS`; it is rented when
    the newest quote of the ordering market for that duration makes renting it cheaper than
    burning it at the newest recorded energy fee, the market has the energy, and the partner's
    daily and monthly budgets cover the market's price. One order per forecast and pool, and
    never while one is open (`rental_order_plan`). A planned order is paid at once, to the
    market it records (pools/services/rentals.py). The market's offer (price, address, energy
    on offer) is read once per run, for every pool. Energy sharing goes first: a pool a loan is
    reaching is not rented for (`_sharing_first`).
    """
    now = now or timezone.now()
    advanced = rental_orders_drive()
    days = settings.TOPUP_RENTAL_DAYS
    pools = list(
        EnergyPool.objects.filter(
            role=EnergyPool.Role.ENERGY,
            status=EnergyPool.Status.ACTIVE,
            custody=EnergyPool.Custody.CUSTODIAL,
            partner__status=Partner.Status.ACTIVE,
            partner__rental_budget_daily_trx__gt=0,
            partner__rental_budget_monthly_trx__gt=0,
        ).only("id", "partner_id", "address")
    )
    skipped: dict[int, str] = {}
    if not pools:
        return TopupReport(planned=0, advanced=advanced, skipped=skipped)
    ids = [p.pk for p in pools]
    estimates = pool_depletion_estimates(pool_ids=ids, now=now, hours=days * 24)
    forecasts = latest_forecasts(pool_ids=ids)
    short = [
        pool
        for pool in pools
        if (estimate := estimates.get(pool.pk)) is not None
        and estimate.hours_left is not None
        and estimate.hours_left < settings.TOPUP_HORIZON_HOURS
        and _lacking(estimate) > 0
        and estimate.forecast_until is not None
    ]
    if not short:
        return TopupReport(planned=0, advanced=advanced, skipped=skipped)
    lent = _sharing_first(short, now=now)
    skipped.update(lent)
    short = [pool for pool in short if pool.pk not in lent]
    if not short:
        return TopupReport(planned=0, advanced=advanced, skipped=skipped)
    try:
        provider = ordering_provider()
    except RentalProviderError as exc:
        logger.error("topup: %s", exc)
        return TopupReport(planned=0, advanced=advanced, skipped={p.pk: str(exc) for p in short})
    rent_price = _newest_price(kind=PriceQuote.Kind.RENTAL, source=provider.name, days=days)
    burn_price = _newest_price(kind=PriceQuote.Kind.ENERGY_FEE)
    offer: MarketOffer | None = None
    if rent_price is None or burn_price is None:
        why_none = f"no {days}-day quote from {provider.name} or no energy fee yet"
    else:
        try:
            # Read once for every pool of the run. The orders this run plans are placed only
            # once their payments are solidified (a later run), so they leave the offer as
            # it was; what the market has is checked again when it takes an order (one it
            # cannot fill is refunded, tron_devnet/market.py).
            offer = provider.offer()
        except RentalProviderError as exc:
            why_none = f"market terms: {exc}"
    planned = 0
    for pool in short:
        if offer is None or rent_price is None or burn_price is None:
            skipped[pool.pk] = why_none
            continue
        estimate = estimates[pool.pk]
        # What the queue waits for now (the pool's available energy below zero) is needed on
        # the first day; the forecast's shortfall over the rental's days.
        waiting = max(0, -int(estimate.available))
        shortfall = _lacking(estimate)
        energy = max(waiting, -(-shortfall // days))
        energy = -(-energy // ENERGY_STEP) * ENERGY_STEP
        try:
            terms = offer.terms(energy=energy, days=days)
            if terms.min_energy > energy:  # the market's smallest order
                energy = terms.min_energy
                terms = offer.terms(energy=energy, days=days)
        except RentalProviderError as exc:
            skipped[pool.pk] = f"market terms: {exc}"
            continue
        rent_total = rent_price * energy * days
        burn_total = burn_price * shortfall
        if rent_total >= burn_total:
            skipped[pool.pk] = (
                f"renting ({rent_total:.0f} sun) is not cheaper than burning ({burn_total:.0f} sun)"
            )
            continue
        if terms.available_energy < energy:
            skipped[pool.pk] = f"the market has {terms.available_energy} energy, {energy} needed"
            continue
        forecast = forecasts[pool.pk]
        result = rental_order_plan(
            pool=pool,
            provider=provider.name,
            need_key=f"forecast-{forecast.made_at:%Y%m%dT%H}",
            reason=(
                f"runs dry in {estimate.hours_left:.1f} h (forecast of "
                f"{forecast.made_at:%Y-%m-%d %H:00}); short {shortfall} energy over {days} d; "
                f"renting {rent_total:.0f} sun < burning {burn_total:.0f} sun"
            ),
            energy=energy,
            days=days,
            price_sun=rent_price,
            burn_price_sun=burn_price,
            cost_sun=terms.cost_sun,
            pay_to=terms.address,
        )
        if result.order is None:
            skipped[pool.pk] = result.why_not
            continue
        planned += 1
        rental_order_advance(order=result.order)  # paid to the market it names
    for pool_id, why in skipped.items():
        logger.info("topup: pool %s not topped up: %s", pool_id, why)
    return TopupReport(planned=planned, advanced=advanced, skipped=skipped)
