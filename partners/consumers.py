"""The live channel: one authenticated socket per page, joined to the groups it may see.

Staff verified by a second factor join `admin`; partner staff join `partner.<id>`. Every
forwarded event is re-checked against the socket's current rights, because a membership
can be revoked while the socket stays open.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from common.events import ADMIN_GROUP, LiveMessage, partner_group
from partners.selectors import membership_partner_id

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def _session_device(session: Any) -> str:
    """The persistent id of the device that verified this session, or ""."""
    return str(session.get(DEVICE_ID_SESSION_KEY) or "") if session is not None else ""


def _verified_staff(user_id: int, device_id: str) -> bool:
    """Is `user_id` still active staff, verified by `device_id`? Read fresh from the database."""
    if not device_id:
        return False
    user_model = get_user_model()
    if not user_model.objects.filter(pk=user_id, is_active=True, is_staff=True).exists():
        return False
    device = Device.from_persistent_id(device_id, for_verify=False)
    return bool(device is not None and device.confirmed and device.user_id == user_id)


class LiveConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    user_id: int | None = None
    device_id: str = ""
    is_admin: bool = False
    partner_id: int | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.device_id = _session_device(self.scope.get("session"))
        self.is_admin = await database_sync_to_async(_verified_staff)(user.pk, self.device_id)
        self.partner_id = await database_sync_to_async(membership_partner_id)(user_id=user.pk)
        groups = []
        if self.is_admin:
            groups.append(ADMIN_GROUP)
        if self.partner_id is not None:
            groups.append(partner_group(self.partner_id))
        if not groups:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.groups = groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"event": "hello", "groups": groups})

    async def live_event(self, message: LiveMessage) -> None:
        if not await self._may_see(message["partner_id"]):
            return
        await self.send_json({"event": message["event"], "payload": message["payload"]})

    async def _may_see(self, partner_id: int | None) -> bool:
        if self.user_id is None:
            return False
        if self.is_admin:
            # Staff rights can be withdrawn (or the device removed) while the socket is open.
            return bool(await database_sync_to_async(_verified_staff)(self.user_id, self.device_id))
        if partner_id is None:
            return False
        current: int | None = await database_sync_to_async(membership_partner_id)(
            user_id=self.user_id
        )
        return current == partner_id

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The socket only receives; state is fetched over HTTP.
        await self.send_json({"event": "error", "payload": {"message": "read-only channel"}})
