"""The customer's live channel: hints about one of their own withdrawals.

`/ws/withdrawals/<id>/` accepts only the logged-in customer who owns the withdrawal; a hint
is only a hint: the page re-fetches the status over HTTP when one arrives, and polls anyway.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from common.events import LiveMessage, withdrawal_group
from partners.models import Partner
from withdrawals.models import Withdrawal

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


def _owns(user_id: int, withdrawal_id: int) -> bool:
    return Withdrawal.objects.filter(
        pk=withdrawal_id,
        customer__user_id=user_id,
        customer__user__is_active=True,
        customer__partner__status=Partner.Status.ACTIVE,  # as the pages: none if suspended
    ).exists()


class WithdrawalStatusConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]  # untyped
    user_id: int | None = None
    withdrawal_id: int = 0

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.withdrawal_id = int(self.scope["url_route"]["kwargs"]["withdrawal_id"])
        if not await database_sync_to_async(_owns)(user.pk, self.withdrawal_id):
            await self.close(code=CLOSE_NOT_FOUND)  # another's withdrawal: as if absent
            return
        self.groups = [withdrawal_group(self.withdrawal_id)]
        await self.channel_layer.group_add(self.groups[0], self.channel_name)
        await self.accept()

    async def live_event(self, message: LiveMessage) -> None:
        if self.user_id is None:
            return
        if not await database_sync_to_async(_owns)(self.user_id, self.withdrawal_id):
            return
        await self.send_json({"event": message["event"], "payload": message["payload"]})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json({"event": "error", "payload": {"message": "read-only channel"}})
