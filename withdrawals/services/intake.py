"""A withdrawal request's writes in one statement, on PostgreSQL (the intake hot path).

`withdrawal_request` (withdrawals/services/requests.py) records a request as: claim the
Idempotency-Key, look for what the key already made, insert the withdrawal, hold its funds
(`hold_place`), then reserve energy on the pool (`reservation_reserve`) unless someone of
the partner waits in the queue (`queue_blocking`), else queue it. Done statement by statement
in a transaction, the customer's balance row stays locked from the hold until the COMMIT
comes back, five round trips later, and under load each round trip also waits for the web
process's interpreter lock: requests on one balance or one pool queued behind each other
(bench/intake.py, docs/decisions.md).

Here the same writes are one statement of data-modifying CTEs: PostgreSQL runs it as one
transaction of its own (or inside the caller's, under a savepoint), so no row lock outlives
the statement. The rules are the same ones, stated in SQL:

- `k`: the key's claim (`common.idempotency.claim_expression`); `prior`: the withdrawal
  the key already made. Nothing below happens unless the claim is held and there is none.
- `ids`: the new withdrawal's id, drawn first so every row can refer to it.
- `b`, `h`: the hold — `available` down and `held` up only where it covers the amount (the
  same conditional UPDATE as `hold_place`), and the hold's row. Lock order as everywhere:
  the balance before the pool (`p` depends on `h`, which depends on `b`).
- `p`, `r`: the reservation — the pool charged only while active and covering the energy
  (`pools.services.ledger.reservation_reserve`'s condition), only once the hold exists, and
  only while nobody of the partner waits in the queue; and the reservation's row.
- `w`, `q`: the withdrawal (reserved on the pool, or queued off it) and, when queued, its
  queue entry — both only once the hold exists.

No hold (the balance does not cover it, or there is none): nothing is written at all. The
rows get the values `save()` would give them (`common.db.InsertSelect`). The statement's SQL
is built once per process; each request only binds its values.
"""

from __future__ import annotations

import functools
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from common.db import InsertSelect, db_value
from common.idempotency import claim_expression
from pools.models import EnergyPool, Reservation
from withdrawals.models import Balance, Currency, Hold, QueueEntry, Withdrawal
from withdrawals.selectors import queue_blocking_sql
from withdrawals.services.idempotency import CLAIM_SCOPE


@dataclass(frozen=True, slots=True)
class IntakeOutcome:
    """What the statement did. `claimed` False: a twin holds the key, nothing was written.
    `replay_id` set: the key already made that withdrawal (`replay_hash` its request's
    digest), nothing was written. `hold_id` None: the funds do not cover it, nothing was
    written. Otherwise the withdrawal was recorded: reserved (`reservation_id`) or queued.

    `queue_mark`, when reserved: a value of the queue entries' id sequence drawn as the pool
    was charged. The statement checked the queue in its snapshot, taken before it waited for
    any row lock, so an entry committed during that wait was not seen; such an entry's id
    is below the mark (docs/protocols.md, Intake)."""

    claimed: bool
    replay_id: int | None
    replay_hash: str | None
    hold_id: int | None
    reservation_id: int | None
    queue_mark: int | None


_HOLD = InsertSelect(
    Hold, source="b, ids", expressions={"balance_id": "b.id", "withdrawal_id": "ids.id"}
)
_RESERVATION = InsertSelect(
    Reservation, source="p, ids", expressions={"pool_id": "p.id", "withdrawal_id": "ids.id"}
)
_WITHDRAWAL = InsertSelect(
    Withdrawal,
    source="ids",
    expressions={
        "id": "ids.id",
        "status": "CASE WHEN EXISTS (SELECT 1 FROM p) THEN %s ELSE %s END",
        "pool_id": "(SELECT id FROM p)",
    },
    where="EXISTS (SELECT 1 FROM h)",
)
_QUEUE_ENTRY = InsertSelect(
    QueueEntry,
    source="ids",
    expressions={"withdrawal_id": "ids.id"},
    where="EXISTS (SELECT 1 FROM h) AND NOT EXISTS (SELECT 1 FROM p)",
)


@functools.cache
def _statement(*, keyed: bool, vendor: str) -> str:
    """The statement's SQL, built once (its parameters, in this order, by `intake_record`)."""
    quote = connection.ops.quote_name
    withdrawals = quote(Withdrawal._meta.db_table)
    queue = quote(QueueEntry._meta.db_table)
    if keyed:
        claim_sql, _ = claim_expression(scope=CLAIM_SCOPE, owner_id=0, key="")
        head = [
            f"k AS (SELECT {claim_sql} AS got)",
            f"prior AS (SELECT id, request_hash FROM {withdrawals} "  # noqa: S608
            "WHERE partner_id = %s AND idempotency_key = %s)",
        ]
        guard = " AND (SELECT got FROM k) AND NOT EXISTS (SELECT 1 FROM prior)"
    else:
        head = [
            "k AS (SELECT true AS got)",
            "prior AS (SELECT NULL::bigint AS id, NULL::text AS request_hash WHERE false)",
        ]
        guard = ""
    blocking_sql, _ = queue_blocking_sql(partner_id=0)
    ctes = [
        *head,
        f"ids AS (SELECT nextval(pg_get_serial_sequence('{withdrawals}', 'id')) AS id)",
        f"b AS (UPDATE {quote(Balance._meta.db_table)} "  # noqa: S608
        "SET available = available - %s, held = held + %s, updated_at = %s "
        f"WHERE customer_id = %s AND currency = %s AND available >= %s{guard} RETURNING id)",
        f"h AS ({_HOLD.sql})",
        f"p AS (UPDATE {quote(EnergyPool._meta.db_table)} "  # noqa: S608
        "SET reserved_energy = reserved_energy + %s "
        "WHERE id = %s AND status = %s AND reserved_energy <= energy_limit - energy_used - %s "
        f"AND EXISTS (SELECT 1 FROM h) AND NOT EXISTS ({blocking_sql}) "
        # A mark on the queue's sequence, drawn once the pool is charged: every queue entry
        # inserted before this moment has a smaller id (`IntakeOutcome.queue_mark`).
        f"RETURNING id, nextval(pg_get_serial_sequence('{queue}', 'id')) AS mark)",
        f"r AS ({_RESERVATION.sql})",
        f"w AS ({_WITHDRAWAL.sql})",
        f"q AS ({_QUEUE_ENTRY.sql})",
    ]
    return (
        f"WITH {', '.join(ctes)} "  # noqa: S608  # quoted identifiers; values are parameters
        "SELECT (SELECT got FROM k), (SELECT id FROM prior), (SELECT request_hash FROM prior), "
        "(SELECT id FROM ids), (SELECT id FROM h), (SELECT id FROM r), (SELECT id FROM w), "
        "(SELECT mark FROM p)"
    )


def intake_record(
    *, withdrawal: Withdrawal, pool_id: int, energy: int, ttl: timedelta
) -> IntakeOutcome:
    """Record the unsaved standard `withdrawal` (its customer, partner, amount, key and
    digest set) in one statement: funds held and energy reserved on `pool_id`, or queued.

    On success `withdrawal` gets its id, status (reserved or queued) and pool (`pool_id`,
    or None when queued). Inside a caller's transaction it runs under a savepoint, so an
    `IntegrityError` (the key's twin committed a moment ago, a second retry of one
    withdrawal) leaves that transaction usable. PostgreSQL only.
    """
    if energy <= 0:
        raise ValueError("a reservation needs a positive energy estimate")
    if connection.vendor != "postgresql":
        raise RuntimeError("intake_record() is the PostgreSQL path of withdrawal_request")
    now = timezone.now()
    key = withdrawal.idempotency_key
    partner_id = withdrawal.partner_id
    params: list[Any] = []
    if key is not None:
        _, claim_params = claim_expression(scope=CLAIM_SCOPE, owner_id=partner_id, key=key)
        params += [*claim_params, partner_id, key]
    amount = db_value(Balance, "available", withdrawal.amount)
    updated_at = db_value(Balance, "updated_at", now)
    params += [amount, amount, updated_at, withdrawal.customer_id, Currency.USDT, amount]
    params += _HOLD.params(Hold(amount=withdrawal.amount))
    _, blocking_params = queue_blocking_sql(partner_id=partner_id)
    params += [energy, pool_id, EnergyPool.Status.ACTIVE, energy, *blocking_params]
    params += _RESERVATION.params(Reservation(estimated_energy=energy, expires_at=now + ttl))
    params += _WITHDRAWAL.params(
        withdrawal, status=[Withdrawal.Status.RESERVED, Withdrawal.Status.QUEUED]
    )
    params += _QUEUE_ENTRY.params(
        QueueEntry(partner_id=partner_id, energy_needed=energy, enqueued_at=now)
    )
    sql = _statement(keyed=key is not None, vendor=connection.vendor)
    savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
    with savepoint, connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    assert row is not None
    claimed, replay_id, replay_hash, new_id, hold_id, reservation_id, written, mark = row
    if written is not None:
        withdrawal.pk = new_id
        withdrawal._state.adding = False
        withdrawal._state.db = connection.alias
        queued = reservation_id is None
        withdrawal.status = Withdrawal.Status.QUEUED if queued else Withdrawal.Status.RESERVED
        withdrawal.pool_id = None if queued else pool_id
    return IntakeOutcome(
        claimed=bool(claimed),
        replay_id=replay_id,
        replay_hash=replay_hash,
        hold_id=hold_id,
        reservation_id=reservation_id,
        queue_mark=mark,
    )
