"""The live hint sent when a pool's numbers or its queue change (after commit;
docs/protocols.md, Live events).

One event, `pools.changed`, whatever moved the numbers (`reason`: sync, reserve, post, void,
expire, status, settings, queue). It goes to the operators (`admin`) and the pool's partner
(`partner.<id>`), coalesced per partner: each group hears about one partner's pools at most
once a second (`common/events.py`), so a busy pool cannot flood a page. It is a hint: a page
re-fetches the numbers over HTTP, so it carries only which pools changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Literal, TypedDict

from common.events import ADMIN_GROUP, partner_group, publish_on_commit
from pools.models import EnergyPool

POOLS_CHANGED = "pools.changed"

Reason = Literal["sync", "reserve", "post", "void", "expire", "status", "settings", "queue"]


class PoolsChangedPayload(TypedDict):
    pool_ids: list[int]
    reason: str


# A pool's partner never changes once it is created (pools/admin.py makes it read-only), so
# the mapping may be remembered for the life of the process.
_partner_of: dict[int, int] = {}


def partner_ids_of(pool_ids: Iterable[int]) -> dict[int, int]:
    """pool id -> partner id, from memory where known, else one query for the rest."""
    wanted = set(pool_ids)
    missing = wanted - _partner_of.keys()
    if missing:
        _partner_of.update(
            EnergyPool.objects.filter(pk__in=missing).values_list("pk", "partner_id")
        )
    return {pk: _partner_of[pk] for pk in wanted if pk in _partner_of}


def remember_partner(*, pool_id: int, partner_id: int) -> None:
    _partner_of[pool_id] = partner_id


def pools_changed(*, pool_ids: Iterable[int], reason: Reason) -> None:
    """Tell operators and each pool's partner that these pools' numbers changed.

    Call inside the transaction that changed them: nothing leaves unless it commits.
    """
    by_partner: dict[int, list[int]] = defaultdict(list)
    for pool_id, partner_id in partner_ids_of(pool_ids).items():
        by_partner[partner_id].append(pool_id)
    for partner_id, ids in by_partner.items():
        _publish(partner_id=partner_id, pool_ids=sorted(ids), reason=reason)


def _publish(*, partner_id: int, pool_ids: list[int], reason: Reason) -> None:
    """To operators and the partner, after commit, coalesced per partner."""
    payload: PoolsChangedPayload = {"pool_ids": pool_ids, "reason": reason}
    publish_on_commit(
        event=POOLS_CHANGED,
        groups=[ADMIN_GROUP, partner_group(partner_id)],
        payload=payload,
        partner_id=partner_id,
        coalesce=f"pools.{partner_id}",
    )


def pool_changed(*, pool: EnergyPool, reason: Reason) -> None:
    """`pools_changed` for one loaded pool (its partner is known: no query)."""
    remember_partner(pool_id=pool.pk, partner_id=pool.partner_id)
    pools_changed(pool_ids=[pool.pk], reason=reason)


def partner_queue_changed(*, partner_id: int) -> None:
    """Tell operators and the partner that its queue moved (a withdrawal queued, cancelled
    or requeued): the queue is the partner's, served by all its pools, so no pool is named.
    Coalesced with the partner's pool hints; sent only if the transaction commits."""
    _publish(partner_id=partner_id, pool_ids=[], reason="queue")
