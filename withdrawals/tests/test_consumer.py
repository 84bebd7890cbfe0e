"""A customer's live channel for one of their withdrawals."""

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import connections, transaction

from energy_platform.routing import websocket_urlpatterns
from partners.models import Partner
from withdrawals.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from withdrawals.events import withdrawal_changed
from withdrawals.tests.factories import WithdrawalFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest_asyncio.fixture(autouse=True)
async def _close_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


def socket(user, withdrawal_id):
    comm = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/withdrawals/{withdrawal_id}/"
    )
    comm.scope["user"] = user
    return comm


def changed(withdrawal, status):
    with transaction.atomic():
        withdrawal_changed(
            withdrawal_id=withdrawal.pk,
            partner_id=withdrawal.partner_id,
            status=status,
            event="withdrawal.confirmed",
        )


async def test_owner_gets_hints_strangers_and_anonymous_do_not_connect():
    withdrawal = await sync_to_async(WithdrawalFactory)()
    other = await sync_to_async(WithdrawalFactory)()
    owner = await sync_to_async(lambda: withdrawal.customer.user)()
    assert await socket(AnonymousUser(), withdrawal.pk).connect() == (
        False,
        CLOSE_UNAUTHENTICATED,
    )
    assert await socket(owner, other.pk).connect() == (False, CLOSE_NOT_FOUND)
    comm = socket(owner, withdrawal.pk)
    assert (await comm.connect())[0]
    await sync_to_async(changed)(withdrawal, "confirmed")
    message = await comm.receive_json_from(timeout=3)
    assert message == {
        "event": "withdrawal.confirmed",
        "payload": {"withdrawal_id": withdrawal.pk, "status": "confirmed"},
    }
    await comm.disconnect()


async def test_a_suspended_partners_customer_is_not_connected():
    withdrawal = await sync_to_async(WithdrawalFactory)()
    owner = await sync_to_async(lambda: withdrawal.customer.user)()
    await sync_to_async(
        lambda: Partner.objects.filter(pk=withdrawal.partner_id).update(status="suspended")
    )()
    assert await socket(owner, withdrawal.pk).connect() == (False, CLOSE_NOT_FOUND)
