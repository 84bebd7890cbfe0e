"""The live channel over the real Redis channel layer."""

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import connections, transaction
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from common.events import partner_group, publish_on_commit
from energy_platform.asgi import application
from partners.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, LiveConsumer
from partners.tests.factories import MembershipFactory, PartnerFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest_asyncio.fixture(autouse=True)
async def _close_thread_connections():
    """sync_to_async runs ORM calls on a worker thread; close its connection afterwards."""
    yield
    await sync_to_async(connections.close_all)()


def communicator(user, session=None):
    comm = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/")
    comm.scope["user"] = user
    comm.scope["session"] = session or {}
    return comm


def publish(event, partner_id, groups):
    with transaction.atomic():
        publish_on_commit(event=event, groups=groups, payload={"n": 1}, partner_id=partner_id)


async def test_anonymous_socket_is_rejected_by_the_full_stack():
    comm = WebsocketCommunicator(
        application, "/ws/live/", headers=[(b"origin", b"http://localhost")]
    )
    connected, code = await comm.connect()
    assert not connected
    assert code == CLOSE_UNAUTHENTICATED


async def test_anonymous_user_is_rejected():
    connected, code = await communicator(AnonymousUser()).connect()
    assert (connected, code) == (False, CLOSE_UNAUTHENTICATED)


async def test_user_without_partner_or_staff_is_rejected():
    user = await sync_to_async(UserFactory)()
    connected, code = await communicator(user).connect()
    assert (connected, code) == (False, CLOSE_FORBIDDEN)


async def test_partner_staff_gets_own_events_only():
    membership = await sync_to_async(MembershipFactory)()
    other = await sync_to_async(PartnerFactory)()
    comm = communicator(membership.user)
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from()
    assert hello == {"event": "hello", "groups": [f"partner.{membership.partner_id}"]}

    await sync_to_async(publish)(
        "pool.updated", membership.partner_id, [partner_group(membership.partner_id)]
    )
    assert await comm.receive_json_from(timeout=3) == {"event": "pool.updated", "payload": {"n": 1}}
    # An event tagged for another partner is dropped even if it reached this group ...
    await sync_to_async(publish)("pool.updated", other.pk, [partner_group(membership.partner_id)])
    assert await comm.receive_nothing(timeout=0.5)
    # ... while the next one of its own still arrives: the channel itself works.
    await sync_to_async(publish)(
        "pool.synced", membership.partner_id, [partner_group(membership.partner_id)]
    )
    assert (await comm.receive_json_from(timeout=3))["event"] == "pool.synced"
    await comm.disconnect()


async def test_event_is_not_sent_when_transaction_rolls_back():
    membership = await sync_to_async(MembershipFactory)()
    comm = communicator(membership.user)
    await comm.connect()
    await comm.receive_json_from()

    def rolled_back():
        try:
            with transaction.atomic():
                publish_on_commit(
                    event="x",
                    groups=[partner_group(membership.partner_id)],
                    payload={},
                    partner_id=membership.partner_id,
                )
                raise RuntimeError
        except RuntimeError:
            pass

    await sync_to_async(rolled_back)()
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


async def test_revoked_membership_stops_events_on_open_socket():
    membership = await sync_to_async(MembershipFactory)()
    comm = communicator(membership.user)
    await comm.connect()
    await comm.receive_json_from()
    partner_id = membership.partner_id
    await sync_to_async(membership.delete)()
    await sync_to_async(publish)("pool.updated", partner_id, [partner_group(partner_id)])
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


async def test_a_deactivated_user_stops_getting_events_on_an_open_socket():
    membership = await sync_to_async(MembershipFactory)()
    comm = communicator(membership.user)
    await comm.connect()
    await comm.receive_json_from()
    partner_id = membership.partner_id
    user = membership.user
    user.is_active = False
    await sync_to_async(user.save)()
    await sync_to_async(publish)("pool.updated", partner_id, [partner_group(partner_id)])
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


async def test_staff_needs_verified_device_for_admin_group():
    staff = await sync_to_async(UserFactory)(is_staff=True)
    connected, code = await communicator(staff).connect()
    assert (connected, code) == (False, CLOSE_FORBIDDEN)

    device = await sync_to_async(TOTPDevice.objects.create)(user=staff, name="a", confirmed=True)
    comm = communicator(staff, {DEVICE_ID_SESSION_KEY: device.persistent_id})
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from())["groups"] == ["admin"]
    await sync_to_async(publish)("alert.opened", 123, ["admin"])
    assert (await comm.receive_json_from(timeout=3))["event"] == "alert.opened"
    await comm.disconnect()


async def test_admin_socket_stops_when_staff_rights_go():
    staff = await sync_to_async(UserFactory)(is_staff=True)
    device = await sync_to_async(TOTPDevice.objects.create)(user=staff, name="a", confirmed=True)
    comm = communicator(staff, {DEVICE_ID_SESSION_KEY: device.persistent_id})
    assert (await comm.connect())[0]
    await comm.receive_json_from()
    await sync_to_async(publish)("alert.opened", 1, ["admin"])
    assert (await comm.receive_json_from(timeout=3))["event"] == "alert.opened"  # control
    staff.is_staff = False
    await sync_to_async(staff.save)()
    await sync_to_async(publish)("alert.opened", 1, ["admin"])
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


async def test_sockets_of_one_hint_are_rechecked_together_each_on_its_own_rights():
    """One query answers the re-checks of every socket a hint reaches, and still refuses the
    one whose membership went meanwhile."""
    first = await sync_to_async(MembershipFactory)()
    second = await sync_to_async(MembershipFactory)(partner=first.partner)
    revoked = await sync_to_async(MembershipFactory)(partner=first.partner)
    comms = [communicator(m.user) for m in (first, second, revoked)]
    for comm in comms:
        assert (await comm.connect())[0]
        await comm.receive_json_from()
    await sync_to_async(revoked.delete)()
    await sync_to_async(publish)(
        "pool.updated", first.partner_id, [partner_group(first.partner_id)]
    )
    for comm in comms[:2]:
        assert (await comm.receive_json_from(timeout=3))["event"] == "pool.updated"
    assert await comms[2].receive_nothing(timeout=0.5)
    for comm in comms:
        await comm.disconnect()
