"""Writes of the predictions app: the hourly `refresh_predictions` job's work, and the
`topup_pools` job's: renting energy for pools the forecast says run dry."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Abs, Coalesce
from django.utils import timezone

from partners.models import Partner
from pools.models import EnergyPool, EnergyUsageLog, PriceQuote
from pools.pricing import RentalProviderError, ordering_provider
from pools.services.rentals import rental_order_advance, rental_order_plan, rental_orders_drive
from predictions.forecasting import MAX_HISTORY_HOURS, WEEK, forecast_hourly
from predictions.models import EnergyPrediction
from predictions.selectors import (
    hour_floor,
    hourly_usage_series,
    latest_forecasts,
    pool_depletion_estimates,
)

logger = logging.getLogger(__name__)

HORIZONS = (24, WEEK)
LEVEL = 0.8
ENERGY_STEP = 1_000  # rental orders are rounded up to this much energy


@dataclass(frozen=True)
class RefreshReport:
    forecast: int
    scored: int


def predictions_refresh(*, now: datetime | None = None) -> RefreshReport:
    """Forecast every active or draining energy pool from the current hour, and score the
    forecasts whose window has ended.

    Idempotent within an hour: forecasts are keyed by (pool, hour made, horizon) and
    rewritten in place; a forecast is scored once (only unscored rows are touched). History:
    the pool's hourly usage (usage logs) over at most MAX_HISTORY_HOURS, from the hour the
    pool was added; hours without a log count as zero.
    """
    made_at = hour_floor(now or timezone.now())
    pools = list(
        EnergyPool.objects.filter(
            role=EnergyPool.Role.ENERGY,
            status__in=[EnergyPool.Status.ACTIVE, EnergyPool.Status.DRAINING],
        ).only("id", "created_at")
    )
    since = made_at - timedelta(hours=MAX_HISTORY_HOURS)
    usage = hourly_usage_series(pool_ids=[p.pk for p in pools], since=since, until=made_at)
    rows: list[EnergyPrediction] = []
    for pool in pools:
        start = max(since, hour_floor(pool.created_at))
        skipped = int((start - since) / timedelta(hours=1))
        history = usage[pool.pk][skipped:]
        result = forecast_hourly(history, start, WEEK, level=LEVEL)
        for horizon in HORIZONS:
            if horizon == WEEK:
                mean, lower, upper = result.total_mean, result.total_lower, result.total_upper
            else:
                mean = result.day_total_mean
                lower, upper = result.day_total_lower, result.day_total_upper
            predicted = round(mean)
            rows.append(
                EnergyPrediction(
                    pool_id=pool.pk,
                    made_at=made_at,
                    horizon_hours=horizon,
                    target_at=made_at + timedelta(hours=horizon),
                    predicted_energy=predicted,
                    lower_energy=min(predicted, max(0, int(lower))),
                    upper_energy=max(predicted, int(upper + 0.999)),
                    level=LEVEL,
                    model=result.model[:64],
                    series={
                        "mean": [round(v) for v in result.mean[:horizon]],
                        "lower": [int(v) for v in result.lower[:horizon]],
                        "upper": [int(v + 0.999) for v in result.upper[:horizon]],
                    },
                )
            )
    with transaction.atomic():
        EnergyPrediction.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["pool", "made_at", "horizon_hours"],
            update_fields=[
                "target_at",
                "predicted_energy",
                "lower_energy",
                "upper_energy",
                "level",
                "model",
                "series",
            ],
        )
    scored = predictions_score(now=made_at)
    return RefreshReport(forecast=len(pools), scored=scored)


def predictions_score(*, now: datetime) -> int:
    """Score every unscored forecast whose window ended by `now`: the energy actually used
    in [made_at, target_at) from the usage logs, the absolute error, and whether the interval
    covered it. Scored rows are never scored again."""
    actual = (
        EnergyUsageLog.objects.filter(
            pool_id=OuterRef("pool_id"), at__gte=OuterRef("made_at"), at__lt=OuterRef("target_at")
        )
        .order_by()
        .values("pool_id")
        .annotate(total=Sum("energy_used"))
        .values("total")
    )
    with transaction.atomic():
        count = EnergyPrediction.objects.filter(
            actual_energy__isnull=True, target_at__lte=now
        ).update(actual_energy=Coalesce(Subquery(actual), Value(0)))
        EnergyPrediction.objects.filter(actual_energy__isnull=False, abs_error__isnull=True).update(
            abs_error=Abs(F("actual_energy") - F("predicted_energy")),
            covered=Case(
                When(
                    Q(lower_energy__lte=F("actual_energy"))
                    & Q(upper_energy__gte=F("actual_energy")),
                    then=Value(True),
                ),
                default=Value(False),
            ),
        )
    return count


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


def pools_topup(*, now: datetime | None = None) -> TopupReport:
    """The `topup_pools` job: rent energy for pools the forecast says run dry.

    First every open order is taken a step further (pools/services/rentals.py). Then, for each
    active custodial energy pool of a partner with both rental budgets set: when the newest
    week forecast (current, made within RECENT_FORECAST_HOURS) has the pool run out, at its
    pessimistic side, within `TOPUP_HORIZON_HOURS` — before a day's regeneration — the
    expected volume is its shortfall over the rental's `TOPUP_RENTAL_DAYS`; it is rented when
    the newest quote of the ordering market for that duration makes renting it cheaper than
    burning it at the newest recorded energy fee, the market has the energy, and the partner's
    daily and monthly budgets cover the market's price. One order per forecast and pool, and
    never while one is open (`rental_order_plan`). A planned order is paid at once.
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
        and estimate.shortfall > 0
        and estimate.forecast_until is not None
    ]
    if not short:
        return TopupReport(planned=0, advanced=advanced, skipped=skipped)
    try:
        provider = ordering_provider()
    except RentalProviderError as exc:
        logger.error("topup: %s", exc)
        return TopupReport(planned=0, advanced=advanced, skipped={p.pk: str(exc) for p in short})
    rent_price = _newest_price(kind=PriceQuote.Kind.RENTAL, source=provider.name, days=days)
    burn_price = _newest_price(kind=PriceQuote.Kind.ENERGY_FEE)
    planned = 0
    for pool in short:
        estimate = estimates[pool.pk]
        if rent_price is None or burn_price is None:
            skipped[pool.pk] = f"no {days}-day quote from {provider.name} or no energy fee yet"
            continue
        shortfall = int(estimate.shortfall)
        energy = -(-shortfall // days)
        energy = -(-energy // ENERGY_STEP) * ENERGY_STEP
        try:
            terms = provider.terms(energy=energy, days=days)
            if terms.min_energy > energy:  # the market's smallest order
                energy = terms.min_energy
                terms = provider.terms(energy=energy, days=days)
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
        rental_order_advance(order=result.order, provider=provider)
    for pool_id, why in skipped.items():
        logger.info("topup: pool %s not topped up: %s", pool_id, why)
    return TopupReport(planned=planned, advanced=advanced, skipped=skipped)
