"""The ledger auditor: expiry of unsigned reservations, invariants, alerts on breaches."""

from __future__ import annotations

import logging

from alerts.models import EnergyAlert, Level
from alerts.selectors import alerts_open_of_kind
from alerts.services import alert_raise, alert_resolve
from pools.selectors import ledger_audit
from pools.services.ledger import reservations_expire
from withdrawals.selectors import balances_out_of_balance
from withdrawals.services.emergency import emergency_quotes_expire
from withdrawals.services.requests import withdrawals_requeue_unreserved

logger = logging.getLogger(__name__)


def expire_and_audit() -> int:
    """The `expire_and_audit` job: void expired unsigned reservations, then check the
    ledger's invariants and raise an emergency alert for every breach: one per pool, and
    one per partner naming all its balances out of balance (resolving the alerts of pools
    and partners that are whole again). Returns reservations expired plus breaches found
    (each pool and each balance).

    Queries: a constant number for the reads; alerts are written only where something
    changed (a new breach, another message, a breach mended), so a standing breach costs
    nothing per run.
    """
    expired = reservations_expire()
    withdrawals_requeue_unreserved()
    emergency_quotes_expire()
    kind = EnergyAlert.Kind.LEDGER_INVARIANT
    open_alerts = alerts_open_of_kind(kind=kind)
    breaches: list[tuple[int | None, int, str, int | None, int | None]] = []
    for breach in ledger_audit():
        logger.error("ledger invariant breached: %s", breach.message)
        breaches.append(
            (
                breach.pool_id,
                breach.partner_id,
                breach.message,
                breach.reserved_energy,
                breach.pending_total,
            )
        )
    # A partner has one open alert of a kind outside its pools (alerts/models.py), so its
    # broken balances share one alert naming them all, in id order: the same balances give
    # the same message, which the next run finds unchanged and leaves alone.
    holds = sorted(balances_out_of_balance())
    found = len(breaches) + len(holds)
    broken: dict[int, list[int]] = {}
    for balance_id, partner_id in holds:
        logger.error("balance %s: held amount differs from its open holds", balance_id)
        broken.setdefault(partner_id, []).append(balance_id)
    for partner_id, balance_ids in broken.items():
        breaches.append((None, partner_id, _balances_message(balance_ids), None, None))
    for pool_id, partner_id, message, value, threshold in breaches:
        current = open_alerts.pop((pool_id, partner_id), None)
        if current is not None and (current["level"], current["message"], current["value"]) == (
            Level.EMERGENCY,
            message,
            value,
        ):
            continue  # raised before, unchanged: alert_raise would only rewrite it
        alert_raise(
            partner_id=partner_id,
            pool_id=pool_id,
            kind=kind,
            level=Level.EMERGENCY,
            message=message,
            value=value,
            threshold=threshold,
        )
    for mended in open_alerts.values():  # whole again
        alert_resolve(alert_id=mended["pk"])
    return expired + found


def _balances_message(balance_ids: list[int]) -> str:
    """The alert's message for a partner's balances out of balance (ids in order)."""
    if len(balance_ids) == 1:
        return f"Balance {balance_ids[0]}: held amount differs from its open holds."
    names = ", ".join(map(str, balance_ids))
    return f"Balances {names}: held amounts differ from their open holds."


# The queue-backlog alert (including a queue head that can never be served) is raised by
# the check_alerts job (alerts/services/rules.py).
