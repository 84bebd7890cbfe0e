"""Signing, broadcasting and confirming withdrawals on the devnet, exactly once — including
processes killed between the steps."""

import os
import subprocess
import sys
import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db.models import F
from tronpy.keys import PrivateKey

from alerts.models import EnergyAlert
from partners.tests.factories import CustomerFactory
from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD
from pools.models import EnergyPool, EnergyUsageLog, Reservation
from pools.services.keys import signing_key_import
from pools.services.sync import pools_sync
from pools.tests.factories import EnergyPoolFactory
from withdrawals.models import Attempt, Balance, Withdrawal
from withdrawals.services.balances import balance_credit
from withdrawals.services.requests import withdrawal_request
from withdrawals.services.sending import withdrawals_drive

ROOT = Path(__file__).resolve().parents[2]
TRX = 1_000_000


@pytest.fixture
def hot_pool(devnet, partner):
    """A custodial pool with 500,000 TRX staked for energy and 10,000 USDT."""
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 500_100)
    devnet.mint(address, 10_000)
    signing_key_import(private_key_hex=key.hex())
    pool = EnergyPoolFactory(partner=partner, address=address, custody=EnergyPool.Custody.CUSTODIAL)
    client = chain_client()
    from pools.tests.test_chain_client import KeySigner, send

    send(
        client, devnet, client.build_stake(owner=address, amount_sun=500_000 * TRX), KeySigner(key)
    )
    pools_sync(queryset=EnergyPool.objects.filter(pk=pool.pk))
    pool.refresh_from_db()
    assert pool.energy_limit > 2 * USDT_TRANSFER_ENERGY_COLD
    return pool


@pytest.fixture
def customer(partner):
    customer = CustomerFactory(partner=partner)
    balance_credit(
        customer=customer, currency="USDT", amount=Decimal("500"), idempotency_key="seed"
    )
    return customer


def request(customer, amount="12.5"):
    recipient = PrivateKey.random().public_key.to_base58check_address()
    withdrawal, _ = withdrawal_request(
        customer=customer, to_address=recipient, amount=Decimal(amount)
    )
    return withdrawal, recipient


def balance(customer):
    row = Balance.objects.get(customer=customer, currency="USDT")
    return row.available, row.held


def drive_until_final(devnet, withdrawal, rounds=6):
    for _ in range(rounds):
        withdrawals_drive()
        withdrawal.refresh_from_db()
        if withdrawal.status in Withdrawal.FINAL_STATUSES:
            return withdrawal
        devnet.mine()
    return withdrawal


@pytest.mark.django_db
def test_standard_withdrawal_goes_out_on_pool_energy(devnet, hot_pool, customer):
    withdrawal, recipient = request(customer)
    assert withdrawal.status == "reserved"
    withdrawals_drive()
    withdrawal.refresh_from_db()
    assert withdrawal.status == "broadcast"
    attempt = Attempt.objects.get(withdrawal=withdrawal)
    assert attempt.fee_limit_sun >= USDT_TRANSFER_ENERGY_COLD * 100
    devnet.mine()
    withdrawals_drive()
    withdrawal.refresh_from_db()
    assert withdrawal.status == "confirmed"
    assert chain_client().usdt_balance(recipient) == 12_500_000  # the USDT arrived
    assert (withdrawal.energy_used, withdrawal.trx_burned_sun) == (USDT_TRANSFER_ENERGY_COLD, 0)
    assert balance(customer) == (Decimal("487.5"), Decimal("0"))
    reservation = Reservation.objects.get(withdrawal=withdrawal)
    assert (reservation.state, reservation.posted_energy) == ("posted", USDT_TRANSFER_ENERGY_COLD)
    log = EnergyUsageLog.objects.get(txid=attempt.txid)
    assert (log.kind, log.energy_used, log.withdrawal_id) == (
        "withdrawal",
        USDT_TRANSFER_ENERGY_COLD,
        withdrawal.pk,
    )
    # the fee in force, kept for the savings reads (no fee quote recorded: the default)
    assert log.energy_fee_sun == settings.DEFAULT_ENERGY_FEE_SUN
    hot_pool.refresh_from_db()
    assert hot_pool.reserved_energy == 0
    # A sync now sees exactly what we logged: no "external" usage.
    assert pools_sync(queryset=EnergyPool.objects.filter(pk=hot_pool.pk)).external_logs == 0


@pytest.mark.django_db
def test_a_dropped_transaction_is_replaced_only_after_it_expires(devnet, hot_pool, customer):
    withdrawal, recipient = request(customer)
    devnet.faults(drop_broadcasts=1)  # accepted, then lost by the node
    withdrawals_drive()
    first = Attempt.objects.get(withdrawal=withdrawal)
    devnet.mine(3)
    withdrawals_drive()  # not on chain, not expired: rebroadcast the same bytes only
    assert Attempt.objects.filter(withdrawal=withdrawal).count() == 1
    devnet.advance(60 + 120 + 3)  # past expiration plus the margin, on the solidified chain
    withdrawal = drive_until_final(devnet, withdrawal)
    assert withdrawal.status == "confirmed"
    attempts = list(Attempt.objects.filter(withdrawal=withdrawal).order_by("pk"))
    assert [a.state for a in attempts] == ["dead", "confirmed"]
    assert attempts[0].txid == first.txid
    assert chain_client().transaction_receipt(first.txid) is None
    assert chain_client().usdt_balance(recipient) == 12_500_000  # sent once


@pytest.mark.django_db
def test_a_failed_transaction_releases_the_funds_and_alerts(devnet, hot_pool, customer):
    withdrawal, recipient = request(customer, amount="12.5")
    # Empty the hot wallet behind the platform's back: the transfer will revert.
    client = chain_client()
    sink = PrivateKey.random().public_key.to_base58check_address()
    from pools.selectors import signer_for_address

    drain = client.build_usdt_transfer(
        owner=hot_pool.address, to=sink, amount=10_000 * 1_000_000, fee_limit=20 * TRX
    )
    assert client.broadcast(client.sign(drain, signer_for_address(address=hot_pool.address)))
    devnet.mine()
    withdrawal = drive_until_final(devnet, withdrawal)
    assert withdrawal.status == "failed"
    assert "REVERT" in withdrawal.failure_reason
    assert balance(customer) == (Decimal("500"), Decimal("0"))
    assert chain_client().usdt_balance(recipient) == 0
    alert = EnergyAlert.objects.get(kind="withdrawal_failed")
    assert alert.level == "critical"
    assert Reservation.objects.get(withdrawal=withdrawal).state == "posted"


CRASH_SCRIPT = """
import os, django
django.setup()
from pools.chain.client import ChainClient
from withdrawals.services import sending
original = ChainClient.broadcast
point = os.environ["CRASH_AT"]
if point == "after_sign":
    def broadcast(self, signed):
        os._exit(9)
    ChainClient.broadcast = broadcast
elif point == "after_broadcast":
    def broadcast(self, signed):
        original(self, signed)
        os._exit(9)
    ChainClient.broadcast = broadcast
elif point == "during_confirm":
    def post(**kwargs):
        os._exit(9)
    sending.reservation_post = post
sending.withdrawals_drive()
raise SystemExit("the crash point was never reached")
"""


def run_and_crash(point, settings, devnet):
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "CRASH_AT": point,
        "DJANGO_SETTINGS_MODULE": "energy_platform.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TRON_NODE_URLS": devnet.url,
    }
    result = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 9, result.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("point", ["after_sign", "after_broadcast", "during_confirm"])
def test_killed_process_resumes_and_sends_once(devnet, hot_pool, customer, settings, point):
    withdrawal, recipient = request(customer)
    if point == "during_confirm":
        withdrawals_drive()  # signed and broadcast here; the crash comes while confirming
        devnet.mine()
    run_and_crash(point, settings, devnet)
    withdrawal.refresh_from_db()
    assert withdrawal.status in ("signed", "broadcast")
    devnet.mine()
    withdrawal = drive_until_final(devnet, withdrawal)
    assert withdrawal.status == "confirmed"
    attempts = Attempt.objects.filter(withdrawal=withdrawal)
    assert [a.state for a in attempts] == ["confirmed"]  # one transaction, ever
    assert chain_client().usdt_balance(recipient) == 12_500_000
    assert balance(customer) == (Decimal("487.5"), Decimal("0"))
    assert Reservation.objects.get(withdrawal=withdrawal).state == "posted"
    assert EnergyUsageLog.objects.filter(withdrawal=withdrawal).count() == 1


@pytest.mark.django_db
def test_death_needs_the_margin_and_two_checks(devnet, hot_pool, customer):
    withdrawal, _ = request(customer)
    devnet.faults(drop_broadcasts=1)
    withdrawals_drive()
    attempt = Attempt.objects.get(withdrawal=withdrawal)
    devnet.advance(90)  # past expiration, not past the margin
    withdrawals_drive()
    attempt.refresh_from_db()
    assert (attempt.state, attempt.dead_checks) == ("broadcast", 0)
    devnet.advance(120)
    withdrawals_drive()
    attempt.refresh_from_db()
    assert (attempt.state, attempt.dead_checks) == ("broadcast", 1)  # one check is not proof
    withdrawals_drive()
    attempt.refresh_from_db()
    assert attempt.state == "dead"


@pytest.mark.django_db
def test_an_operator_retries_a_failed_withdrawal_once(devnet, hot_pool, customer):
    from django.core.exceptions import ValidationError

    from withdrawals.services.requests import withdrawal_retry

    withdrawal, recipient = request(customer)
    Withdrawal.objects.filter(pk=withdrawal.pk).update(status="failed")  # as after a REVERT
    from withdrawals.services.balances import withdrawal_holds_release

    withdrawal_holds_release(withdrawal_id=withdrawal.pk)
    from pools.services.ledger import reservation_void

    reservation_void(reservation_id=Reservation.objects.get(withdrawal=withdrawal).pk)
    withdrawal.refresh_from_db()
    retried = withdrawal_retry(withdrawal=withdrawal)
    assert (retried.retry_of_id, retried.status, retried.to_address) == (
        withdrawal.pk,
        "reserved",
        recipient,
    )
    assert balance(customer) == (Decimal("487.5"), Decimal("12.5"))  # held again, once
    with pytest.raises(ValidationError, match="already retried"):
        withdrawal_retry(withdrawal=withdrawal)
    with pytest.raises(ValidationError):
        withdrawal_retry(withdrawal=retried)  # not failed
    retried = drive_until_final(devnet, retried)
    assert retried.status == "confirmed"
    assert chain_client().usdt_balance(recipient) == 12_500_000


@pytest.mark.django_db(transaction=True)
def test_signing_beside_a_cancel_takes_the_locks_in_the_same_order(devnet, hot_pool, customer):
    """A cancel locks the withdrawal, then (after its holds) the reservation. Signing took
    the reservation first and then waited on the withdrawal: a deadlock, one side killed.
    Now it waits for the withdrawal first, holding nothing, and the cancel goes through."""
    from django.db import connection, transaction

    from conftest import wait_for_a_blocked_query
    from pools.services.ledger import reservation_void
    from withdrawals.services.sending import withdrawal_sign

    withdrawal, _ = request(customer)
    reservation = Reservation.objects.get(withdrawal=withdrawal)
    locked, outcome = threading.Event(), {}

    def cancel_like() -> None:
        try:
            with transaction.atomic():
                Withdrawal.objects.select_for_update().get(pk=withdrawal.pk)
                locked.set()
                wait_for_a_blocked_query()  # signing has reached its transaction
                outcome["voided"] = reservation_void(reservation_id=reservation.pk)
        except Exception as exc:  # a deadlock victim
            outcome["error"] = repr(exc)
        finally:
            connection.close()

    canceller = threading.Thread(target=cancel_like)
    canceller.start()
    assert locked.wait(5)
    signing = Withdrawal.objects.select_related("pool").get(pk=withdrawal.pk)
    attempt = withdrawal_sign(withdrawal=signing)
    canceller.join()
    assert outcome == {"voided": True}
    assert attempt is None  # the reservation was voided first: nothing may be signed
    withdrawal.refresh_from_db()
    assert withdrawal.status == "reserved"
    assert not Attempt.objects.filter(withdrawal=withdrawal).exists()


@pytest.mark.django_db
def test_holds_are_resolved_usdt_first_as_they_are_placed(devnet, partner):
    """`emergency_confirm` locks the USDT balance, then TRX; resolving a withdrawal's holds
    in another order could deadlock against the same customer's next confirm."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from withdrawals.services.balances import hold_place, withdrawal_holds_release

    customer = CustomerFactory(partner=partner)
    for currency in ("TRX", "USDT"):  # the TRX balance row is the older one
        balance_credit(
            customer=customer, currency=currency, amount=Decimal("50"), idempotency_key=currency
        )
    withdrawal = Withdrawal.objects.create(
        customer=customer, partner=partner, to_address="T" * 34, amount=Decimal("5")
    )
    hold_place(withdrawal=withdrawal, currency="USDT", amount=Decimal("5"))
    hold_place(withdrawal=withdrawal, currency="TRX", amount=Decimal("13"))
    with CaptureQueriesContext(connection) as queries:
        assert withdrawal_holds_release(withdrawal_id=withdrawal.pk) == 2
    balance_ids = dict(Balance.objects.filter(customer=customer).values_list("currency", "pk"))
    updated = [
        currency
        for q in queries.captured_queries
        if q["sql"].startswith('UPDATE "withdrawals_balance"')
        for currency, pk in balance_ids.items()
        if q["sql"].endswith(f'"id" = {pk}')
    ]
    assert updated == ["USDT", "TRX"]


@pytest.mark.django_db
def test_a_withdrawal_nobody_can_sign_asks_a_person(devnet, hot_pool, customer):
    """The pool's key is gone (removed by an operator): nothing can sign, so an alert says
    so; the withdrawal keeps its funds and place until the key is back or it is cancelled."""
    from pools.models import SigningKey

    withdrawal, _ = request(customer)
    SigningKey.objects.filter(address=hot_pool.address).delete()
    withdrawals_drive()
    withdrawal.refresh_from_db()
    assert withdrawal.status == "reserved"
    assert not Attempt.objects.filter(withdrawal=withdrawal).exists()
    alert = EnergyAlert.objects.get(kind="withdrawal_failed", pool=hot_pool)
    assert alert.level == "critical"
    assert "no key is held" in alert.message
    assert balance(customer) == (Decimal("487.5"), Decimal("12.5"))


@pytest.mark.django_db
def test_a_transaction_in_a_block_is_not_sent_again_while_it_solidifies(devnet, hot_pool, customer):
    """Quiet sending: once the node has the transaction in a block, the drive waits for the
    solidified receipt and sends nothing more (a node provider rate-limits per key). The
    node calls one withdrawal costs, from request to confirmation, are pinned."""
    devnet.faults(solidity_lag=20)
    before = devnet.calls()
    withdrawal, recipient = request(customer)
    withdrawals_drive()  # signed and broadcast once
    devnet.mine()  # in a block, 20 blocks from solidified
    for _ in range(10):
        withdrawals_drive()
    withdrawal.refresh_from_db()
    assert withdrawal.status == "broadcast"
    calls = devnet.calls()
    assert calls["wallet/broadcasttransaction"] - before.get("wallet/broadcasttransaction", 0) == 1
    devnet.mine(20)
    withdrawals_drive()
    withdrawal.refresh_from_db()
    assert withdrawal.status == "confirmed"
    assert chain_client().usdt_balance(recipient) == 12_500_000
    after = devnet.calls()
    spent = {k: n - before.get(k, 0) for k, n in after.items() if n - before.get(k, 0)}
    assert spent["wallet/broadcasttransaction"] == 1
    # Request (estimate), sign (head block, build), then one three-call verdict per drive.
    assert sum(spent.values()) <= 50, spent


@pytest.mark.django_db
def test_an_unknown_transaction_is_sent_again_with_backoff(devnet, hot_pool, customer):
    """Accepted, then lost by the node: sent again, but 3 s, 6 s, 12 s … apart, not on
    every 3-second drive."""
    withdrawal, _ = request(customer)
    devnet.faults(drop_broadcasts=True)  # every broadcast answered, none kept
    withdrawals_drive()
    attempt = Attempt.objects.get(withdrawal=withdrawal)
    for _ in range(5):
        withdrawals_drive()  # within the first 3 s: nothing sent again
    attempt.refresh_from_db()
    assert attempt.broadcast_count == 1
    created, first_update = attempt.created_at, attempt.updated_at
    Attempt.objects.filter(pk=attempt.pk).update(
        last_broadcast_at=F("last_broadcast_at") - timedelta(seconds=4)
    )
    withdrawals_drive()  # 3 s have passed: again
    attempt.refresh_from_db()
    assert attempt.broadcast_count == 2
    assert attempt.updated_at > first_update >= created  # every change stamps the attempt
    Attempt.objects.filter(pk=attempt.pk).update(
        last_broadcast_at=F("last_broadcast_at") - timedelta(seconds=4)
    )
    withdrawals_drive()  # 4 s is not the 6 s the second wait lasts
    attempt.refresh_from_db()
    assert attempt.broadcast_count == 2


@pytest.mark.django_db
def test_a_withdrawals_request_id_follows_it_into_the_worker(
    devnet, hot_pool, customer, key_client, caplog
):
    """The id the API request ran under is stored with the withdrawal, and the worker's log
    lines about it (signed, broadcast, confirmed) carry the same id."""
    import logging

    from common.logs import RequestIdFilter

    response = key_client.post(
        "/api/v1/withdrawals",
        {
            "customer_id": customer.pk,
            "to_address": PrivateKey.random().public_key.to_base58check_address(),
            "amount": "2",
        },
        format="json",
        HTTP_X_REQUEST_ID="trace-0123456789",
        HTTP_IDEMPOTENCY_KEY="traced",
    )
    assert response.status_code == 201, response.content
    withdrawal = Withdrawal.objects.get(pk=response.json()["id"])
    assert withdrawal.request_id == "trace-0123456789"
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO, logger="withdrawals.services.sending")
    withdrawal = drive_until_final(devnet, withdrawal)
    assert withdrawal.status == "confirmed"
    lines = [r for r in caplog.records if r.name == "withdrawals.services.sending"]
    assert [r.getMessage().split(":")[1].split()[0] for r in lines][:1] == ["signed"]
    assert any(r.getMessage().endswith("confirmed") for r in lines)
    assert {r.request_id for r in lines} == {"trace-0123456789"}
