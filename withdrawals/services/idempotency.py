"""What every idempotent withdrawal request shares: the digest of its body and the two ways
a key can be refused (docs/protocols.md, Idempotency keys)."""

from __future__ import annotations

import hashlib
import json

from withdrawals.models import Withdrawal

# Credit keys the platform itself uses (refunds); a partner's Idempotency-Key may not start
# with it, so a partner's credit can never take the place of a refund.
PLATFORM_KEY_PREFIX = "platform:"


class IdempotencyInFlight(Exception):
    """A request with this key is being processed right now."""


class IdempotencyMismatch(Exception):
    """This key was used for a request with a different body."""


def request_hash(payload: dict[str, object]) -> str:
    """A stable digest of the request body (keys sorted, amounts normalised by the caller)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def withdrawal_for_key(*, partner_id: int, key: str, body_hash: str) -> int | None:
    """The id of the withdrawal `key` already made for the same request, or None; the key
    used for another request is refused with `IdempotencyMismatch`. One narrow query."""
    found = (
        Withdrawal.objects.filter(partner_id=partner_id, idempotency_key=key)
        .values_list("pk", "request_hash")
        .first()
    )
    if found is None:
        return None
    if found[1] != body_hash:
        raise IdempotencyMismatch(key)
    return int(found[0])
