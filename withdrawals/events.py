"""The live hint every withdrawal state change sends (after commit; docs/protocols.md,
Live events)."""

from __future__ import annotations

from common.events import partner_group, publish_on_commit, withdrawal_group


def withdrawal_changed(
    *, withdrawal_id: int, partner_id: int, status: str, event: str, new: bool = False
) -> None:
    """Tell the partner's dashboards and the withdrawal's own status page.

    A `new` withdrawal's own group has nobody in it yet (its id is only known once this
    transaction commits, and a page that connects later fetches the state first), so only
    the partner is told: half the Redis work on the intake path.
    """
    groups = [partner_group(partner_id)]
    if not new:
        groups.append(withdrawal_group(withdrawal_id))
    publish_on_commit(
        event=event,
        groups=groups,
        payload={"withdrawal_id": withdrawal_id, "status": status},
        partner_id=partner_id,
    )
