"""The live channel: one authenticated socket per page, joined to the groups it may see.

Staff verified by a second factor join `admin`; partner staff join `partner.<id>`. Every
forwarded event is re-checked against the socket's current rights, because a membership
can be revoked while the socket stays open.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from common.events import ADMIN_GROUP, LiveMessage, partner_group
from partners.selectors import membership_partner_id, membership_partner_ids

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


def _recheck(function: Any) -> Any:
    """Run a per-message rights check on the thread pool, not the one shared sync thread,
    where the checks of many sockets would queue behind each other."""
    return database_sync_to_async(function, thread_sensitive=False)


class _MembershipChecks:
    """Answers the sockets of one event loop asking "which partner is user U in now?" for the
    same hint with one query.

    A hint to a partner's group reaches each of its sockets at about the same moment, and
    each must re-check its rights before forwarding it. One read per socket cost a second
    per hint with 500 sockets (bench/live.py); here the questions asked within `GATHER`
    seconds are answered together by a single fresh read, so every forwarded hint is still
    checked against the database as it stands after the hint was sent.
    """

    GATHER = 0.002

    def __init__(self) -> None:
        self._pending: dict[int, list[asyncio.Future[int | None]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def partner_of(self, user_id: int) -> int | None:
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(user_id, []).append(future)
        if self._task is None:
            self._task = asyncio.ensure_future(self._answer())
        return await future

    async def _answer(self) -> None:
        await asyncio.sleep(self.GATHER)
        pending, self._pending, self._task = self._pending, {}, None
        try:
            found = await _recheck(membership_partner_ids)(user_ids=list(pending))
        except Exception as error:  # every socket asking hears it, none is left waiting
            for futures in pending.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(error)
            return
        for user_id, futures in pending.items():
            for future in futures:
                if not future.done():
                    future.set_result(found.get(user_id))


_checks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _MembershipChecks] = (
    weakref.WeakKeyDictionary()
)


def _membership_checks() -> _MembershipChecks:
    loop = asyncio.get_running_loop()
    checks = _checks.get(loop)
    if checks is None:
        checks = _checks[loop] = _MembershipChecks()
    return checks


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
            return bool(await _recheck(_verified_staff)(self.user_id, self.device_id))
        if partner_id is None:
            return False
        current = await _membership_checks().partner_of(self.user_id)
        return current == partner_id

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The socket only receives; state is fetched over HTTP.
        await self.send_json({"event": "error", "payload": {"message": "read-only channel"}})
