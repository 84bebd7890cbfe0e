"""The customer's live channel: hints about one of their own withdrawals.

`/ws/withdrawals/<id>/` accepts only the logged-in customer who owns the withdrawal; a hint
is only a hint: the page re-fetches the status over HTTP when one arrives, and polls anyway.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model

from common.events import LiveMessage, withdrawal_group
from partners.selectors import customer_get_for_user
from withdrawals.selectors import withdrawal_get_for_customer

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


def _owns(user_id: int, withdrawal_id: int) -> bool:
    """The pages' rule, through their selectors: the user (still active) is a customer of an
    active partner, and the withdrawal is that customer's."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    customer = customer_get_for_user(user=user) if user is not None else None
    return (
        customer is not None
        and withdrawal_get_for_customer(customer=customer, withdrawal_id=withdrawal_id) is not None
    )


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
