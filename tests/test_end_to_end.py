"""The whole path on the devnet with a real Celery worker: request over the API, the jobs
move it, the USDT arrives; a queued one goes when energy recovers; a cancelled one is
released; an emergency one is paid, sent by burning TRX, and its burn recorded."""

import time
from decimal import Decimal

import pytest
from celery import current_app
from celery.contrib.testing.worker import start_worker
from tronpy.keys import PrivateKey

from operations.models import JobRun
from partners.tests.factories import CustomerFactory
from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD
from pools.models import EnergyPool, EnergyUsageLog
from pools.services.keys import signing_key_import
from pools.services.sync import pools_sync
from pools.tasks import sync_pools
from pools.tests.factories import EnergyPoolFactory
from pools.tests.test_chain_client import KeySigner, send
from withdrawals.models import Balance, Withdrawal
from withdrawals.services.balances import balance_credit
from withdrawals.tasks import allocate_queue, broadcast_and_confirm

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
TRX = 1_000_000


@pytest.fixture
def worker():
    with start_worker(current_app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        yield


def run(task, timeout=20):
    """Send the task to the real worker through Redis and wait until its job run ended."""
    job = task.name.rsplit(".", 1)[-1]
    done = JobRun.objects.filter(job=job, finished_at__isnull=False)
    before = done.count()
    task.apply_async()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done.count() > before:
            return
        time.sleep(0.05)
    raise AssertionError(f"{task.name} did not run")


def wait_for(withdrawal_id, status, devnet, *, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = Withdrawal.objects.get(pk=withdrawal_id).status
        if current == status:
            return
        run(broadcast_and_confirm)
        devnet.mine()
    raise AssertionError(f"withdrawal {withdrawal_id} stayed {current}, wanted {status}")


def test_withdrawals_end_to_end_with_a_real_worker(devnet, partner, key_client, worker):
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 200_100)
    devnet.mint(address, 1_000)
    signing_key_import(private_key_hex=key.hex())
    client = chain_client()
    send(
        client, devnet, client.build_stake(owner=address, amount_sun=200_000 * TRX), KeySigner(key)
    )
    pool = EnergyPoolFactory(partner=partner, address=address, custody=EnergyPool.Custody.CUSTODIAL)
    pools_sync(queryset=EnergyPool.objects.filter(pk=pool.pk))
    pool.refresh_from_db()
    room = pool.energy_limit // USDT_TRANSFER_ENERGY_COLD
    customer = CustomerFactory(partner=partner)
    balance_credit(
        customer=customer, currency="USDT", amount=Decimal("100"), idempotency_key="seed"
    )

    def request(amount="1"):
        to = PrivateKey.random().public_key.to_base58check_address()
        response = key_client.post(
            "/api/v1/withdrawals",
            {"customer_id": customer.pk, "to_address": to, "amount": amount},
            format="json",
        )
        assert response.status_code == 201, response.content
        return response.json(), to

    standard = [request() for _ in range(room)]
    queued, queued_to = request()
    cancelled, _ = request()
    assert [w["status"] for w, _ in standard] == ["reserved"] * room
    assert (queued["status"], cancelled["status"]) == ("queued", "queued")

    # A standard withdrawal: signed, broadcast and confirmed by the worker's jobs.
    for withdrawal, to in standard:
        wait_for(withdrawal["id"], "confirmed", devnet)
        assert client.usdt_balance(to) == 1_000_000

    # A cancelled one releases its hold.
    key_client.post(f"/api/v1/withdrawals/{cancelled['id']}/cancel")

    # The queued one waits with a falling estimate, and goes when energy recovers.
    first_wait = key_client.get(f"/api/v1/withdrawals/{queued['id']}/").json()["queue"]
    devnet.advance(6 * 3600)
    run(sync_pools)
    later_wait = key_client.get(f"/api/v1/withdrawals/{queued['id']}/").json()["queue"]
    assert later_wait["wait_seconds"] < first_wait["wait_seconds"]
    devnet.advance(18 * 3600)
    run(sync_pools)
    run(allocate_queue)
    assert Withdrawal.objects.get(pk=queued["id"]).status == "reserved"
    wait_for(queued["id"], "confirmed", devnet)
    assert client.usdt_balance(queued_to) == 1_000_000

    # An emergency one: quoted, paid from the TRX balance, sent now from the stake-less
    # emergency wallet by the worker, the burn recorded.
    wallet_key = PrivateKey.random()
    wallet_address = wallet_key.public_key.to_base58check_address()
    devnet.fund(wallet_address, 100)
    devnet.mint(wallet_address, 100)
    signing_key_import(private_key_hex=wallet_key.hex())
    EnergyPoolFactory(
        partner=partner,
        address=wallet_address,
        energy_limit=0,
        custody=EnergyPool.Custody.CUSTODIAL,
        role=EnergyPool.Role.EMERGENCY,
    )
    balance_credit(customer=customer, currency="TRX", amount=Decimal("20"), idempotency_key="trx")
    emergency_to = PrivateKey.random().public_key.to_base58check_address()
    quote = key_client.post(
        "/api/v1/energy/emergency-withdrawal",
        {"action": "quote", "customer_id": customer.pk, "to_address": emergency_to, "amount": "1"},
        format="json",
    )
    assert quote.status_code == 201, quote.content
    emergency_id = quote.json()["withdrawal"]["id"]
    paid = key_client.post(
        "/api/v1/energy/emergency-withdrawal",
        {"action": "confirm", "withdrawal_id": emergency_id, "paid_with": "balance"},
        format="json",
    )
    assert paid.status_code == 200, paid.content
    wait_for(emergency_id, "confirmed", devnet)
    assert client.usdt_balance(emergency_to) == 1_000_000
    emergency = Withdrawal.objects.get(pk=emergency_id)
    assert emergency.trx_burned_sun >= USDT_TRANSFER_ENERGY_COLD * 100  # burned, no stake
    assert EnergyUsageLog.objects.get(withdrawal=emergency).kind == "emergency"
    fee = Decimal(quote.json()["quoted_fee_trx"])
    trx = Balance.objects.get(customer=customer, currency="TRX")
    assert (trx.available, trx.held) == (Decimal(20) - fee, Decimal(0))

    balance = Balance.objects.get(customer=customer, currency="USDT")
    sent = room + 2
    assert (balance.available, balance.held) == (Decimal(100 - sent), Decimal(0))
