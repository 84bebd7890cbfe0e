"""Pool hints end to end over the real Redis channel layer: sent after the commit that
changed a pool, to the operators and that pool's partner only, coalesced per partner."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections, transaction

from common.events import ADMIN_GROUP, flush_live_events, partner_group
from partners.consumers import LiveConsumer
from partners.tests.factories import MembershipFactory
from pools.events import POOLS_CHANGED, pools_changed
from pools.models import EnergyPool
from pools.services.ledger import reservation_reserve
from pools.services.onboarding import pool_set_status
from pools.tests.factories import EnergyPoolFactory
from withdrawals.models import Withdrawal
from withdrawals.services.requests import withdrawal_cancel
from withdrawals.tests.factories import QueueEntryFactory, WithdrawalFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Listener:
    """A channel joined to some groups, read synchronously."""

    def __init__(self, *groups: str) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def receive(self, timeout: float = 3.0) -> dict[str, Any] | None:
        async def one() -> dict[str, Any] | None:
            import asyncio

            try:
                return await asyncio.wait_for(self.layer.receive(self.channel), timeout)
            except TimeoutError:
                return None

        return async_to_sync(one)()

    def receive_pools_changed(self) -> dict[str, Any] | None:
        """The next pools hint, skipping the withdrawals' own hints to the same group."""
        while (message := self.receive()) is not None:
            if message["event"] == POOLS_CHANGED:
                return message
        return None


def test_a_reservation_tells_the_partner_and_the_operators_after_commit():
    pool = EnergyPoolFactory(energy_limit=10**6)
    other = EnergyPoolFactory()
    withdrawal = WithdrawalFactory(partner=pool.partner)
    mine = Listener(partner_group(pool.partner_id))
    theirs = Listener(partner_group(other.partner_id))
    operators = Listener(ADMIN_GROUP)
    with transaction.atomic():
        reservation_reserve(
            pool_id=pool.pk, withdrawal_id=withdrawal.pk, energy=1000, ttl=timedelta(minutes=1)
        )
        time.sleep(0.2)
        # Nothing was handed to the publisher before the commit: its queue drains at once.
        assert flush_live_events(timeout=2.0) is True
    for listener in (mine, operators):
        message = listener.receive()
        assert message is not None
        assert message["event"] == POOLS_CHANGED
        assert message["partner_id"] == pool.partner_id
        assert message["payload"] == {"pool_ids": [pool.pk], "reason": "reserve"}
    assert theirs.receive(timeout=0.5) is None


def test_status_and_queue_moves_are_hinted():
    pool = EnergyPoolFactory()
    listener = Listener(partner_group(pool.partner_id))
    pool_set_status(pool=pool, status=EnergyPool.Status.PAUSED)
    assert listener.receive()["payload"]["reason"] == "status"
    time.sleep(1.1)  # the next window
    entry = QueueEntryFactory(
        withdrawal__partner=pool.partner,
        withdrawal__pool=None,
        withdrawal__status=Withdrawal.Status.QUEUED,
    )
    withdrawal_cancel(withdrawal=entry.withdrawal)
    # The queue is the partner's (served by all its pools): the hint names no pool.
    assert listener.receive_pools_changed()["payload"] == {"pool_ids": [], "reason": "queue"}


def test_hints_for_one_partner_are_coalesced_to_one_a_second():
    pool = EnergyPoolFactory()
    second = EnergyPoolFactory(partner=pool.partner)
    listener = Listener(partner_group(pool.partner_id))
    started = time.monotonic()
    for n in range(10):
        pools_changed(pool_ids=[pool.pk if n < 9 else second.pk], reason="post")
    first = listener.receive()
    assert first["payload"]["pool_ids"] == [pool.pk]
    assert time.monotonic() - started < 0.5
    trailing = listener.receive()
    # The newest of the window, once it is over: nothing is lost, nothing floods.
    assert trailing["payload"]["pool_ids"] == [second.pk]
    assert time.monotonic() - started >= 0.9
    assert listener.receive(timeout=1.5) is None
    assert flush_live_events(timeout=3)


@pytest_asyncio.fixture
async def _close_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


@pytest.mark.asyncio
@pytest.mark.usefixtures("_close_thread_connections")
async def test_a_partners_socket_never_gets_another_partners_pool_hints():
    me = await sync_to_async(MembershipFactory)()
    them = await sync_to_async(MembershipFactory)()
    my_pool = await sync_to_async(EnergyPoolFactory)(partner=me.partner)
    their_pool = await sync_to_async(EnergyPoolFactory)(partner=them.partner)
    comm = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/")
    comm.scope["user"] = me.user
    comm.scope["session"] = {}
    connected, _ = await comm.connect()
    assert connected
    await comm.receive_json_from()  # hello
    await sync_to_async(pool_set_status)(pool=their_pool, status=EnergyPool.Status.PAUSED)
    assert await comm.receive_nothing(timeout=0.8)
    await sync_to_async(pool_set_status)(pool=my_pool, status=EnergyPool.Status.PAUSED)
    message = await comm.receive_json_from(timeout=3)
    assert message == {
        "event": POOLS_CHANGED,
        "payload": {"pool_ids": [my_pool.pk], "reason": "status"},
    }
    await comm.disconnect()


def test_a_sync_tells_each_partner_about_its_own_pools(devnet):
    """The sync job's batch write hints each partner once, with its synced pools."""
    from tronpy.keys import PrivateKey

    from pools.services.sync import pools_sync

    first, second = (PrivateKey.random().public_key.to_base58check_address() for _ in range(2))
    for address in (first, second):
        devnet.fund(address, 10)
    mine = EnergyPoolFactory(address=first)
    theirs = EnergyPoolFactory(address=second)
    listener = Listener(partner_group(mine.partner_id))
    pools_sync()
    message = listener.receive_pools_changed()
    assert message["payload"] == {"pool_ids": [mine.pk], "reason": "sync"}
    assert theirs.pk not in message["payload"]["pool_ids"]
