"""Rental orders: energy bought from a market for a pool, from plan to energy on chain.

Protocol (docs/protocols.md, Energy rental). Nothing is paid twice and no need is ordered twice:

1. **plan** — the order is recorded (`planned`) under the partner's row lock, only within the
   partner's daily and monthly budgets (everything not failed counts, and a failed order whose
   payment went out and came not back); `rental_one_order_per_need` (pool, need) and
   `rental_one_open_order_per_pool` make a second order for the same need impossible. The
   order records its market's name (`provider`).
2. **pay** — only once the recorded market is known to order (below). The payment is a
   `StakingOperation` of kind payment, submitted with the idempotency key `rental-order-<id>`
   (pools/services/staking.py: signed and recorded before its first broadcast, driven to its
   receipt by `broadcast_and_confirm`). A crash anywhere in this step leaves at most that one
   operation: the next run submits the same key and gets it back. Its amount and recipient
   were fixed at plan time, so the repeat is the same request.
3. **order** — once the payment's receipt is on the solidified chain, the order is placed with
   the payment's txid, which the market takes as the order's idempotency key: an unclear
   answer is asked again, a refusal fails the order.
4. **deliver** — the order is `delivered` when the market's delegation is in a solidified block
   and the pool holds at least the delegated stake; the pool is synced then. An order not
   delivered within `TOPUP_DELIVERY_TIMEOUT_SECONDS` of being placed fails (the market refunds
   a failure; its refund txid is recorded). A delivered order `expires` after its days.

Every transition is a compare-and-set on the order's state.

**The market of an order** is the provider registered under its recorded name
(`pools.pricing.provider_for_order`), at every step: never the one `ENERGY_RENTAL_ORDER_PROVIDER`
names now, which only picks the market of new orders. Changing that setting therefore never
places (or asks after) a paid order with a market that was not paid. The lookup depends on the
code alone, so two runs cannot disagree on it. When it finds no provider that orders
(`RentalOrderingUnsupported`: an unknown name, or TronSave/Feee whose ordering is not built):

- a `planned` order fails (`result` "not paid: ...", which raises the pool's `rental_failed`
  alert) before any payment is submitted; no TRX moves and the budget is not charged. If a
  payment is already recorded under its key (a run killed between submitting and linking it),
  that payment is linked instead (`paying`) and the order is handled as below;
- a `paid` or `ordered` order (a `paying` one once its payment is confirmed: its receipt is
  still followed) stays where it is. Its TRX went to that market, which alone can fill or
  refund it: the order is not over, so it is neither failed (a failed order is no longer
  followed) nor placed with any other market. Every run logs an error naming it, its payment
  and the missing market: it needs a person (restore the provider under that name, or settle
  with the market by hand).

A provider that exists but cannot be built now (`RentalProviderError`, e.g. its API key
missing) leaves any order where it is, unpaid if planned, with an error logged.

A person is told by the alerts app, which reads the orders (this layer cannot raise alerts):
`check_alerts` raises a critical `rental_stuck` alert on the pool of a paid or ordered order
whose market cannot be asked about it, that the market has not taken within
`ALERT_RENTAL_STUCK_MINUTES`, or that is neither delivered nor failed that long past
`TOPUP_DELIVERY_TIMEOUT_SECONDS` (alerts/services/rules.py, `rental_stuck_verdicts`). An order
moves only by `_move`, which stamps `updated_at`: that is when it entered its state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.db import in_callers_transaction
from common.idempotency import IdempotencyInFlight
from common.tron import SUN_PER_TRX
from partners.models import Partner
from pools.chain import chain_client
from pools.chain.errors import ChainError
from pools.models import EnergyPool, RentalOrder, StakingOperation
from pools.pricing import (
    MarketOrderStatus,
    OrderingProvider,
    RentalOrderingUnsupported,
    RentalOrderRefused,
    RentalProviderError,
    provider_for_order,
)
from pools.selectors import rental_spent_sun, staking_operation_for_key
from pools.services.staking import staking_submit
from pools.services.sync import pools_sync

logger = logging.getLogger(__name__)

State = RentalOrder.State


@dataclass(frozen=True)
class Budget:
    """A partner's rental budget left now, in sun (None: top-up is off for the partner)."""

    daily_left_sun: int
    monthly_left_sun: int

    @property
    def left_sun(self) -> int:
        return min(self.daily_left_sun, self.monthly_left_sun)


def partner_budget(*, partner: Partner, now: datetime | None = None) -> Budget | None:
    """What the partner may still spend on rentals today and this month (in its time zone);
    None when either budget is zero (off)."""
    if partner.rental_budget_daily_trx <= 0 or partner.rental_budget_monthly_trx <= 0:
        return None
    local = (now or timezone.now()).astimezone(ZoneInfo(partner.time_zone))
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    daily = rental_spent_sun(partner_id=partner.pk, since=day_start)
    monthly = rental_spent_sun(partner_id=partner.pk, since=month_start)
    return Budget(
        daily_left_sun=partner.rental_budget_daily_trx * SUN_PER_TRX - daily,
        monthly_left_sun=partner.rental_budget_monthly_trx * SUN_PER_TRX - monthly,
    )


@dataclass(frozen=True)
class PlanResult:
    order: RentalOrder | None
    why_not: str = ""


def rental_order_plan(
    *,
    pool: EnergyPool,
    provider: str,
    need_key: str,
    reason: str,
    energy: int,
    days: int,
    price_sun: Decimal,
    burn_price_sun: Decimal,
    cost_sun: int,
    pay_to: str,
) -> PlanResult:
    """Record a planned order for `pool`, or say why not: the partner's budget (off, or too
    little left for `cost_sun`), the need already ordered, or an order still open on the pool.
    Budgets are checked and the order inserted under the partner's row lock, so two runs
    cannot both spend the last of a budget. Pays nothing."""
    try:
        with transaction.atomic():
            partner = Partner.objects.select_for_update().get(pk=pool.partner_id)
            budget = partner_budget(partner=partner)
            if budget is None:
                return PlanResult(None, "top-up is off for the partner (no budget)")
            if cost_sun > budget.left_sun:
                return PlanResult(
                    None,
                    f"budget: {cost_sun} sun needed, {max(0, budget.left_sun)} sun left "
                    f"(day {budget.daily_left_sun}, month {budget.monthly_left_sun})",
                )
            if RentalOrder.objects.filter(pool=pool, need_key=need_key).exists():
                return PlanResult(None, "this need was ordered already")
            if RentalOrder.objects.filter(pool=pool, state__in=RentalOrder.OPEN_STATES).exists():
                return PlanResult(None, "an order is still open on the pool")
            order = RentalOrder.objects.create(
                pool=pool,
                provider=provider,
                need_key=need_key,
                reason=reason[:300],
                energy=energy,
                days=days,
                price_sun=price_sun,
                burn_price_sun=burn_price_sun,
                cost_sun=cost_sun,
                pay_to=pay_to,
            )
    except IntegrityError:
        # Without the row lock (SQLite) the unique constraints are the referee.
        return PlanResult(None, "this need was ordered already, or an order is open")
    return PlanResult(order)


def payment_key(order: RentalOrder) -> str:
    return f"rental-order-{order.pk}"


def _move(order: RentalOrder, old: str, new: str, **fields: object) -> bool:
    """Compare-and-set the order's state; refreshes `order` either way."""
    moved = RentalOrder.objects.filter(pk=order.pk, state=old).update(
        state=new, updated_at=timezone.now(), **fields
    )
    order.refresh_from_db()
    return bool(moved)


def _fail(order: RentalOrder, old: str, result: str, **fields: object) -> bool:
    logger.warning("rental order %s on pool %s failed: %s", order.pk, order.pool_id, result)
    return _move(order, old, State.FAILED, result=result[:500], ended_at=timezone.now(), **fields)


def _pay(order: RentalOrder) -> None:
    """planned → paying: the payment operation, submitted once (key `rental-order-<id>`)."""
    try:
        payment = staking_submit(
            pool=order.pool,
            kind=StakingOperation.Kind.PAYMENT,
            amount_sun=order.cost_sun,
            receiver=order.pay_to,
            idempotency_key=payment_key(order),
        )
    except ValidationError as exc:
        _fail(order, State.PLANNED, f"payment refused: {'; '.join(exc.messages)}")
        return
    except ChainError as exc:
        logger.warning("rental order %s: payment not built now: %s", order.pk, exc)
        return
    except IdempotencyInFlight:
        # Another run is recording this very payment right now; it links it, or the next
        # run gets it back by its key.
        logger.info("rental order %s: payment being recorded by another run", order.pk)
        return
    _move(order, State.PLANNED, State.PAYING, payment=payment)


def _paid(order: RentalOrder) -> None:
    """paying → paid on the payment's solidified receipt; failed if it failed or died."""
    payment = order.payment
    assert payment is not None
    if payment.state == StakingOperation.State.CONFIRMED:
        _move(order, State.PAYING, State.PAID)
    elif payment.state in (StakingOperation.State.FAILED, StakingOperation.State.DEAD):
        _fail(order, State.PAYING, f"payment {payment.state}: {payment.result}")


def _place(order: RentalOrder, provider: OrderingProvider) -> None:
    """paid → ordered (or failed), with the payment's txid as the market's idempotency key."""
    assert order.payment is not None
    try:
        status = provider.place_order(
            receiver=order.pool.address,
            energy=order.energy,
            days=order.days,
            payment_txid=order.payment.txid,
        )
    except RentalOrderRefused as exc:
        _fail(order, State.PAID, f"order refused: {exc}")
        return
    except RentalProviderError as exc:
        logger.warning("rental order %s: no clear answer, will ask again: %s", order.pk, exc)
        return
    if _move(
        order,
        State.PAID,
        State.ORDERED,
        market_order_id=status.market_order_id,
        ordered_at=timezone.now(),
    ):
        _follow(order, status)


def _follow(order: RentalOrder, status: MarketOrderStatus) -> None:
    """ordered → delivered once the energy is on chain; failed on the market's failure or
    when delivery takes longer than `TOPUP_DELIVERY_TIMEOUT_SECONDS`."""
    if status.state == "failed":
        _fail(
            order,
            State.ORDERED,
            f"the market failed the order: {status.reason}",
            refund_txid=status.refund_txid,
        )
        return
    if status.state in ("delivered", "expired") and _on_chain(order, status):
        now = timezone.now()
        if _move(
            order,
            State.ORDERED,
            State.DELIVERED,
            delegate_txid=status.delegate_txid,
            delivered_at=now,
            expires_at=now + timedelta(days=order.days),
        ):
            pools_sync(queryset=EnergyPool.objects.filter(pk=order.pool_id))
        return
    timeout = timedelta(seconds=settings.TOPUP_DELIVERY_TIMEOUT_SECONDS)
    if order.ordered_at is not None and timezone.now() - order.ordered_at > timeout:
        _fail(order, State.ORDERED, f"not delivered within {timeout.total_seconds():.0f} s")


def _on_chain(order: RentalOrder, status: MarketOrderStatus) -> bool:
    """The market's delegation has a successful solidified receipt and the pool holds the
    delegated stake."""
    if not status.delegate_txid or status.delegated_sun <= 0:
        return False
    client = chain_client()
    try:
        receipt = client.transaction_receipt(status.delegate_txid, solid=True)
        if receipt is None or not receipt.success:
            return False
        state = client.account_state(order.pool.address)
    except ChainError as exc:
        logger.warning("rental order %s: delivery not checked now: %s", order.pk, exc)
        return False
    return state.acquired_energy_sun >= status.delegated_sun


def _market(order: RentalOrder) -> OrderingProvider | None:
    """The market `order` was planned with (`order.provider`), or None after saying why: a
    planned order whose market cannot order is refused (`_refuse`), any other one is logged."""
    try:
        return provider_for_order(order.provider)
    except RentalOrderingUnsupported as exc:
        if order.state == State.PLANNED:
            _refuse(order, exc)
        else:
            _stranded(order, exc)
    except RentalProviderError as exc:
        logger.error(
            "rental order %s (%s) on pool %s: its market %r cannot be used now, the order "
            "waits: %s",
            order.pk,
            order.state,
            order.pool_id,
            order.provider,
            exc,
        )
    return None


def _refuse(order: RentalOrder, exc: RentalOrderingUnsupported) -> None:
    """planned → failed before any payment, its market unable to order. A payment recorded
    under the order's key already (a run killed between submitting and linking it) is linked
    instead (planned → paying): that TRX went out, and the paid order waits for a person."""
    payment = staking_operation_for_key(pool=order.pool, key=payment_key(order))
    if payment is None:
        _fail(order, State.PLANNED, f"not paid: {exc}")
    elif _move(order, State.PLANNED, State.PAYING, payment=payment):
        logger.error(
            "rental order %s: its payment was recorded before it was found that its market "
            "cannot order (%s); it is followed, and the paid order waits for a person",
            order.pk,
            exc,
        )


def _stranded(order: RentalOrder, exc: RentalOrderingUnsupported) -> None:
    logger.error(
        "rental order %s (%s) on pool %s needs a person: its payment %s (%s sun to %s) went to "
        "a market that cannot be asked to place or report the order: %s",
        order.pk,
        order.state,
        order.pool_id,
        order.payment.txid if order.payment else "-",
        order.cost_sun,
        order.pay_to,
        exc,
    )


def rental_order_advance(*, order: RentalOrder) -> None:
    """Take `order` one step further, as far as the outside world allows now (see the module's
    protocol). Must run outside any transaction: it pays and calls the market. The market is
    always the one the order was planned with (`order.provider`), found before anything is
    paid: a planned order whose market cannot order fails unpaid, a paid one waits with an
    error logged (and `check_alerts` raises `rental_stuck` for it); an unreachable market
    leaves the order where it is."""
    if in_callers_transaction():
        raise RuntimeError("rental_order_advance must run outside a transaction (it pays)")
    if order.state == State.PLANNED and _market(order) is not None:
        _pay(order)
    if order.state == State.PAYING:
        _paid(order)  # the payment is out whatever its market: its receipt is followed
    if order.state in (State.PAID, State.ORDERED):
        provider = _market(order)
        if provider is None:
            return
        if order.state == State.PAID:
            _place(order, provider)
        elif order.market_order_id:
            try:
                status = provider.order_status(order.market_order_id)
            except RentalProviderError as exc:
                logger.warning("rental order %s: status unclear: %s", order.pk, exc)
                return
            _follow(order, status)
    if order.state == State.DELIVERED and order.expires_at and order.expires_at <= timezone.now():
        _move(order, State.DELIVERED, State.EXPIRED, ended_at=timezone.now())


def rental_orders_drive() -> int:
    """Advance every open or delivered order one step; returns how many changed state."""
    changed = 0
    for order in RentalOrder.objects.filter(
        state__in=[*RentalOrder.OPEN_STATES, State.DELIVERED]
    ).select_related("pool", "payment"):
        before = order.state
        rental_order_advance(order=order)
        changed += order.state != before
    return changed
