"""One idempotency mechanism for every request that must take effect at most once.

A partner names a request with the `Idempotency-Key` header. The service that records the
request's effect stores the key (unique per owner: a partner, a customer, a pool) beside a
digest of the request's body, and answers a repeat from what it stored:

- the same key and body: the stored answer, nothing done again;
- the same key, another body: `IdempotencyMismatch` (the API answers 422);
- the same key while its twin is still being recorded: `IdempotencyInFlight` (409);
- no key where one is required: `IdempotencyKeyMissing` (400);
- a malformed key, or one in the platform's own key space (`platform:`): `IdempotencyKeyInvalid`
  (400).

The API error handler (`common/api/errors.py`) maps these to HTTP once; services raise them
and never decide a status code. Concurrent twins are kept apart by `claim`: a
transaction-scoped PostgreSQL advisory lock on (scope, owner, key), taken with
`pg_try_advisory_xact_lock` in the transaction that records the effect, so a twin fails fast
instead of queueing behind it, and the lock ends with the transaction (commit, rollback or
a dead connection) even behind a transaction-mode connection pooler. The owner's unique
constraint on the stored key remains the last line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from django.db import connection

HEADER = "Idempotency-Key"
# Keys the platform itself uses (refunds credited back to a customer): a partner's key may
# not start with it, so a partner's request can never take the place of the platform's.
PLATFORM_KEY_PREFIX = "platform:"
MAX_KEY_LENGTH = 255


class IdempotencyError(Exception):
    """Base of the refusals below; `message` is what the API tells the caller."""

    default_message = "The Idempotency-Key cannot be used."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class IdempotencyKeyMissing(IdempotencyError):
    """The endpoint needs a key (a retry without one could move funds twice)."""

    default_message = f"The {HEADER} header is required."


class IdempotencyKeyInvalid(IdempotencyError):
    """The key is malformed, too long, or in the platform's reserved key space."""


class IdempotencyMismatch(IdempotencyError):
    """The key was already used for a request with a different body."""

    default_message = f"This {HEADER} was used for a request with a different body."


class IdempotencyInFlight(IdempotencyError):
    """A request with this key is being recorded right now; retry shortly."""

    default_message = f"A request with this {HEADER} is still being processed."


def parse_key(headers: Mapping[str, str], *, required: bool) -> str | None:
    """The request's `Idempotency-Key`, or None when it has none and none is required.

    A key is 1 to 255 printable ASCII characters (no control characters, nothing a proxy
    could rewrite) and does not start with `platform:`. Raises `IdempotencyKeyMissing` or
    `IdempotencyKeyInvalid`; an empty header counts as none.
    """
    key = headers.get(HEADER) or None
    if key is None:
        if required:
            raise IdempotencyKeyMissing
        return None
    if len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyInvalid(f"At most {MAX_KEY_LENGTH} characters.")
    if not all(" " <= char <= "~" for char in key):
        raise IdempotencyKeyInvalid("Only printable ASCII characters.")
    if key.startswith(PLATFORM_KEY_PREFIX):
        raise IdempotencyKeyInvalid(f"Keys starting with {PLATFORM_KEY_PREFIX!r} are reserved.")
    return key


def request_hash(payload: Mapping[str, object]) -> str:
    """A stable digest of a request's body: keys sorted; the caller normalises values
    (amounts as `str(amount.normalize())`, so "5" and "5.00" are the same request)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def ensure_same_request(*, stored_hash: str, body_hash: str, message: str | None = None) -> None:
    """Raise `IdempotencyMismatch` unless the stored request's digest is this one's."""
    if stored_hash != body_hash:
        raise IdempotencyMismatch(message)


def claim_lock_id(*, scope: str, owner_id: int, key: str) -> int:
    """The advisory lock's 64-bit id for (scope, owner, key)."""
    digest = hashlib.sha256(f"{scope}\x00{owner_id}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def claim(*, scope: str, owner_id: int, key: str) -> None:
    """Hold (scope, owner, key) for the rest of the current transaction, or raise
    `IdempotencyInFlight` at once when a twin holds it.

    Call it inside the transaction that records the request's effect, then look for the
    stored answer again (a twin may have committed it since the first look). Raises
    `RuntimeError` outside a transaction, where the lock would end with the statement. On
    a database without advisory locks (the embedded SQLite of `make run`) it does nothing:
    the unique key alone stops duplicates there.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("claim() must run inside the transaction that records the request")
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s)",
            [claim_lock_id(scope=scope, owner_id=owner_id, key=key)],
        )
        row = cursor.fetchone()
    if not row or not row[0]:
        raise IdempotencyInFlight


def claim_expression(*, scope: str, owner_id: int, key: str) -> tuple[str, list[object]]:
    """`claim` as an SQL boolean and its parameters, for a service that records a request's
    effect in one statement (no transaction of its own to call `claim` in): true when the
    claim is held for the rest of that statement's transaction, false when a twin holds it
    (the service then raises `IdempotencyInFlight` and must change nothing). PostgreSQL only.
    """
    if connection.vendor != "postgresql":
        raise RuntimeError("claim_expression() needs PostgreSQL's advisory locks")
    return "pg_try_advisory_xact_lock(%s)", [claim_lock_id(scope=scope, owner_id=owner_id, key=key)]
