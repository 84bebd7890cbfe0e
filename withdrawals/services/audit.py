"""The ledger auditor: expiry of unsigned reservations, invariants, alerts on breaches."""

from __future__ import annotations

import logging

from django.db.models import F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from alerts.models import EnergyAlert, Level
from alerts.services import alert_raise, alerts_resolve, partner_alerts_resolve
from pools.services.ledger import ledger_audit, reservations_expire
from withdrawals.models import Balance, Hold
from withdrawals.selectors import queue_unservable
from withdrawals.services.emergency import emergency_quotes_expire
from withdrawals.services.requests import withdrawals_requeue_unreserved

logger = logging.getLogger(__name__)


def balances_out_of_balance() -> list[tuple[int, int]]:
    """(balance id, partner id) of balances whose `held` differs from their held holds."""
    held = (
        Hold.objects.filter(balance=OuterRef("pk"), state=Hold.State.HELD)
        .values("balance")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return list(
        Balance.objects.annotate(held_total=Coalesce(Subquery(held), 0))
        .exclude(held=F("held_total"))
        .values_list("pk", "customer__partner_id")
    )


def expire_and_audit() -> int:
    """The `expire_and_audit` job: void expired unsigned reservations, then check the
    ledger's invariants and raise an emergency alert for every breach (resolving the alerts
    of pools that are whole again). Returns reservations expired plus breaches found.
    """
    expired = reservations_expire()
    withdrawals_requeue_unreserved()
    emergency_quotes_expire()
    breaches = ledger_audit()
    for breach in breaches:
        logger.error("ledger invariant breached: %s", breach.message)
        alert_raise(
            partner_id=breach.partner_id,
            pool_id=breach.pool_id,
            kind=EnergyAlert.Kind.LEDGER_INVARIANT,
            level=Level.EMERGENCY,
            message=breach.message,
            value=breach.reserved_energy,
            threshold=breach.pending_total,
        )
    alerts_resolve(
        kind=EnergyAlert.Kind.LEDGER_INVARIANT, keep_pool_ids={b.pool_id for b in breaches}
    )
    stuck = queue_unservable()
    for unservable in stuck:
        entry = unservable.oldest
        reason = (
            "the partner has no pool that can send (active, custodial, key held)"
            if unservable.largest_limit is None
            else "the largest of the partner's sending pools has a limit of "
            f"{unservable.largest_limit}"
        )
        alert_raise(
            partner_id=entry.partner_id,
            pool_id=None,
            kind=EnergyAlert.Kind.QUEUE_BACKLOG,
            level=Level.CRITICAL,
            message=f"{unservable.count} queued withdrawal(s) cannot be served as things "
            f"stand, the oldest {entry.withdrawal_id}: it needs {entry.energy_needed} energy "
            f"and {reason}. Stake, resume or add a pool, or cancel them.",
            value=entry.energy_needed,
            threshold=unservable.largest_limit,
        )
    partner_alerts_resolve(
        kind=EnergyAlert.Kind.QUEUE_BACKLOG,
        keep_partner_ids={unservable.oldest.partner_id for unservable in stuck},
    )
    # Pool alerts of this kind date from the queue per pool: none is raised any more.
    alerts_resolve(kind=EnergyAlert.Kind.QUEUE_BACKLOG, keep_pool_ids=set())
    holds = balances_out_of_balance()
    for balance_id, partner_id in holds:
        logger.error("balance %s: held amount differs from its open holds", balance_id)
        alert_raise(
            partner_id=partner_id,
            pool_id=None,
            kind=EnergyAlert.Kind.LEDGER_INVARIANT,
            level=Level.EMERGENCY,
            message=f"Balance {balance_id}: held amount differs from its open holds.",
        )
    partner_alerts_resolve(
        kind=EnergyAlert.Kind.LEDGER_INVARIANT,
        keep_partner_ids={partner_id for _, partner_id in holds},
    )
    return expired + len(breaches) + len(holds)
