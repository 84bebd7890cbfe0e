"""The live hint every withdrawal state change sends (after commit; SPEC §6.6)."""

from __future__ import annotations

from common.events import partner_group, publish_on_commit, withdrawal_group


def withdrawal_changed(*, withdrawal_id: int, partner_id: int, status: str, event: str) -> None:
    """Tell the partner's dashboards and the withdrawal's own status page."""
    publish_on_commit(
        event=event,
        groups=[partner_group(partner_id), withdrawal_group(withdrawal_id)],
        payload={"withdrawal_id": withdrawal_id, "status": status},
        partner_id=partner_id,
    )
