"""Looking up the withdrawal an Idempotency-Key already made (`common/idempotency.py` has
the mechanism itself: key parsing, digests, claims and refusals)."""

from __future__ import annotations

from common.idempotency import ensure_same_request
from withdrawals.models import Withdrawal

# Withdrawals and emergency quotes share one key space per partner (the unique
# (partner, idempotency_key) of `Withdrawal`), so they claim keys under one scope.
CLAIM_SCOPE = "withdrawal"


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
    ensure_same_request(stored_hash=found[1], body_hash=body_hash)
    return int(found[0])
