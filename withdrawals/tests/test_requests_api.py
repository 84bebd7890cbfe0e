"""Requesting withdrawals through the partner API: funds held, energy reserved or queued,
idempotency, cancellation, and every bad input refused with nothing changed."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from tronpy.keys import PrivateKey

from partners.tests.factories import APIKeyFactory, CustomerFactory, raw_key_for
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD, USDT_TRANSFER_ENERGY_WARM
from pools.models import EnergyPool, Reservation
from pools.services.keys import signing_key_import
from pools.tests.factories import EnergyPoolFactory
from withdrawals.models import Balance, Credit, Hold, QueueEntry, Withdrawal
from withdrawals.services.balances import balance_credit
from withdrawals.services.requests import queue_allocate, withdrawal_request

pytestmark = pytest.mark.django_db

URL = "/api/v1/withdrawals"


def new_address():
    return PrivateKey.random().public_key.to_base58check_address()


@pytest.fixture
def hot_pool(devnet, partner):
    """A custodial pool holding USDT, with energy for exactly two cold transfers."""
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 100)
    devnet.mint(address, 10_000)
    signing_key_import(private_key_hex=key.hex())
    return EnergyPoolFactory(
        partner=partner,
        address=address,
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=2 * USDT_TRANSFER_ENERGY_COLD + 10,
        energy_used=0,
    )


@pytest.fixture
def customer(partner):
    customer = CustomerFactory(partner=partner)
    balance_credit(
        customer=customer, currency="USDT", amount=Decimal("1000"), idempotency_key="seed"
    )
    return customer


def body(customer, **overrides):
    return {"customer_id": customer.pk, "to_address": new_address(), "amount": "25.5", **overrides}


def balance(customer):
    row = Balance.objects.get(customer=customer, currency="USDT")
    return row.available, row.held


def test_request_holds_funds_and_reserves_energy(hot_pool, customer, key_client):
    response = key_client.post(URL, body(customer), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["status"], data["pool"]) == ("reserved", hot_pool.pk)
    assert data["energy_estimate"] == USDT_TRANSFER_ENERGY_COLD
    assert balance(customer) == (Decimal("974.5"), Decimal("25.5"))
    hot_pool.refresh_from_db()
    assert hot_pool.reserved_energy == USDT_TRANSFER_ENERGY_COLD


def test_holder_recipient_needs_less_energy(devnet, hot_pool, customer, key_client):
    holder = new_address()
    devnet.mint(holder, 1)
    data = key_client.post(URL, body(customer, to_address=holder), format="json").json()
    assert data["energy_estimate"] == USDT_TRANSFER_ENERGY_WARM


def test_short_pool_queues_with_an_honest_estimate(hot_pool, customer, key_client):
    for _ in range(2):
        assert key_client.post(URL, body(customer), format="json").json()["status"] == "reserved"
    queued = key_client.post(URL, body(customer), format="json").json()
    assert queued["status"] == "queued"
    regen_per_second = hot_pool.energy_limit / 86_400
    expected_wait = int((USDT_TRANSFER_ENERGY_COLD - 10) / regen_per_second)
    assert queued["queue"] == {
        "position": 1,
        "energy_ahead": USDT_TRANSFER_ENERGY_COLD,
        "wait_seconds": expected_wait,
    }
    second = key_client.post(URL, body(customer), format="json").json()
    assert second["queue"]["position"] == 2
    assert second["queue"]["wait_seconds"] > expected_wait
    # Energy comes back (a posted withdrawal, a sync): the queue moves, oldest first.
    EnergyPool.objects.filter(pk=hot_pool.pk).update(energy_limit=10**7)
    assert queue_allocate() == 2
    statuses = dict(Withdrawal.objects.values_list("pk", "status"))
    assert statuses[queued["id"]] == statuses[second["id"]] == "reserved"
    assert not QueueEntry.objects.exists()


def test_same_key_same_body_returns_the_stored_withdrawal(hot_pool, customer, key_client):
    payload = body(customer)
    first = key_client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    again = key_client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    other = key_client.post(
        URL, {**payload, "amount": "26"}, format="json", HTTP_IDEMPOTENCY_KEY="order-7"
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Withdrawal.objects.count() == 1
    assert balance(customer) == (Decimal("974.5"), Decimal("25.5"))


@pytest.mark.django_db(transaction=True)
def test_same_key_sent_concurrently_yields_one_withdrawal(devnet, partner):
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 100)
    devnet.mint(address, 100)
    signing_key_import(private_key_hex=key.hex())
    EnergyPoolFactory(partner=partner, address=address, custody="custodial", energy_limit=10**7)
    customer = CustomerFactory(partner=partner)
    balance_credit(
        customer=customer, currency="USDT", amount=Decimal("100"), idempotency_key="seed"
    )
    api_key = APIKeyFactory(partner=partner)
    payload = body(customer)
    barrier = threading.Barrier(6)
    codes = []

    def send():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key_for(api_key.prefix)}")
            barrier.wait()
            codes.append(
                client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="dup").status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Withdrawal.objects.count() == 1
    assert codes.count(201) == 1
    assert set(codes) <= {201, 200, 409}
    assert Hold.objects.count() == 1


def test_cancel_releases_funds_and_energy(hot_pool, customer, key_client):
    data = key_client.post(URL, body(customer), format="json").json()
    response = key_client.post(f"{URL}/{data['id']}/cancel")
    assert response.json()["status"] == "cancelled"
    assert balance(customer) == (Decimal("1000"), Decimal("0"))
    hot_pool.refresh_from_db()
    assert hot_pool.reserved_energy == 0
    assert Reservation.objects.get().state == "voided"
    assert key_client.post(f"{URL}/{data['id']}/cancel").status_code == 200  # idempotent


def test_cancel_a_queued_withdrawal(hot_pool, customer, key_client):
    EnergyPool.objects.filter(pk=hot_pool.pk).update(energy_limit=0)
    data = key_client.post(URL, body(customer), format="json").json()
    assert data["status"] == "queued"
    assert key_client.post(f"{URL}/{data['id']}/cancel").json()["status"] == "cancelled"
    assert not QueueEntry.objects.exists()
    assert balance(customer) == (Decimal("1000"), Decimal("0"))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"to_address": "TNotAnAddress"}, "to_address"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "1.0000001"}, "amount"),
        ({"amount": "1000.000001"}, "amount"),  # more than the balance
        ({"amount": "abc"}, "amount"),
        ({"memo": "x"}, "memo"),
    ],
)
def test_bad_input_is_400_and_changes_nothing(hot_pool, customer, key_client, overrides, field):
    response = key_client.post(URL, body(customer, **overrides), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not Withdrawal.objects.exists()
    assert balance(customer) == (Decimal("1000"), Decimal("0"))
    hot_pool.refresh_from_db()
    assert hot_pool.reserved_energy == 0


def test_outsiders_and_viewers(hot_pool, customer, key_client, outsider_key_client, viewer_client):
    data = key_client.post(URL, body(customer), format="json").json()
    assert outsider_key_client.get(f"{URL}/{data['id']}/").status_code == 404
    assert outsider_key_client.post(f"{URL}/{data['id']}/cancel").status_code == 404
    assert outsider_key_client.get(URL).json()["count"] == 0
    # another partner's customer cannot be used
    assert outsider_key_client.post(URL, body(customer), format="json").status_code == 404
    assert viewer_client.post(URL, body(customer), format="json").status_code == 403
    assert viewer_client.get(f"{URL}/{data['id']}/").status_code == 200
    assert Withdrawal.objects.count() == 1


def test_list_filters_and_query_count(hot_pool, customer, key_client, django_assert_num_queries):
    for _ in range(3):
        key_client.post(URL, body(customer), format="json")
    assert key_client.get(URL, {"status": "queued"}).json()["count"] == 1
    assert key_client.get(URL, {"status": "bogus"}).status_code == 400
    key_client.get(f"{URL}/")
    with django_assert_num_queries(3):  # key, count, page
        key_client.get(f"{URL}/")
    key_client.post(URL, body(customer), format="json")
    with django_assert_num_queries(3):
        assert key_client.get(f"{URL}/").json()["count"] == 4


def test_credits_are_idempotent(customer, key_client, outsider_key_client):
    url = f"/api/v1/users/{customer.pk}/credits"
    payload = {"currency": "USDT", "amount": "10"}
    assert key_client.post(url, payload, format="json").status_code == 400  # key required
    assert (
        key_client.post(url, payload, format="json", HTTP_IDEMPOTENCY_KEY="d1").status_code == 201
    )
    assert (
        key_client.post(url, payload, format="json", HTTP_IDEMPOTENCY_KEY="d1").status_code == 200
    )
    assert (
        key_client.post(
            url, {**payload, "amount": "11"}, format="json", HTTP_IDEMPOTENCY_KEY="d1"
        ).status_code
        == 422
    )
    assert (
        outsider_key_client.post(url, payload, format="json", HTTP_IDEMPOTENCY_KEY="d2").status_code
        == 404
    )
    assert balance(customer) == (Decimal("1010"), Decimal("0"))


def test_credits_too_large_for_a_balance_are_refused_not_a_500(customer, key_client):
    url = f"/api/v1/users/{customer.pk}/credits"
    huge = key_client.post(
        url,
        {"currency": "USDT", "amount": "999999999999999999.999999"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="h1",
    )
    assert huge.status_code == 400
    assert "amount" in huge.json()["error"]["fields"]
    # A credit within bounds, onto a balance already near what its column holds.
    near_full = Decimal("999999999999999999")
    Balance.objects.filter(customer=customer, currency="USDT").update(available=near_full)
    full = key_client.post(
        url, {"currency": "USDT", "amount": "1000000"}, format="json", HTTP_IDEMPOTENCY_KEY="h2"
    )
    assert full.status_code == 400, full.content
    assert "largest amount" in full.json()["error"]["fields"]["amount"][0]
    assert balance(customer) == (near_full, Decimal("0"))
    assert not Credit.objects.filter(idempotency_key__in=["h1", "h2"]).exists()


def test_customers_api(partner, key_client, outsider_key_client):
    created = key_client.post("/api/v1/customers", {"external_ref": "u-1"}, format="json")
    assert created.status_code == 201
    assert (
        key_client.post("/api/v1/customers", {"external_ref": "u-1"}, format="json").status_code
        == 400
    )
    assert (
        key_client.post(
            "/api/v1/customers", {"external_ref": "bad ref!"}, format="json"
        ).status_code
        == 400
    )
    customer_id = created.json()["id"]
    assert outsider_key_client.get(f"/api/v1/customers/{customer_id}").status_code == 404
    assert key_client.get("/api/v1/customers").json()["count"] == 1


def test_energy_status_tells_the_truth(hot_pool, customer, key_client, outsider_key_client):
    status_url = "/api/v1/energy/status"
    fine = key_client.get(status_url).json()
    assert fine["energy_sufficient"] is True
    assert fine["available_energy"] == hot_pool.energy_limit
    assert (fine["queue_position"], fine["estimated_wait_time"], fine["alert_message"]) == (
        0,
        0,
        None,
    )
    for _ in range(3):  # two reserved, one queued
        key_client.post(URL, body(customer), format="json")
    busy = key_client.get(status_url).json()
    assert busy["energy_sufficient"] is False
    assert busy["queue_position"] == 2
    regen_per_minute = hot_pool.energy_limit / 1440
    expected = -(-(2 * USDT_TRANSFER_ENERGY_COLD - 10) // regen_per_minute)
    assert busy["estimated_wait_time"] == int(expected)
    assert busy["emergency_fee_trx"] == "13.373500"  # 130,285 × 100 sun + 345 × 1,000 sun
    assert "position 2" in busy["alert_message"]
    assert "13.37 TRX" in busy["alert_message"]
    # another partner, with no pool, is told so — not this partner's numbers
    theirs = outsider_key_client.get(status_url).json()
    assert (theirs["available_energy"], theirs["energy_sufficient"]) == (0, False)


def test_a_crash_between_allocation_and_the_move_is_repaired(hot_pool, customer, key_client):
    from datetime import timedelta

    from pools.services.ledger import reservations_allocate

    EnergyPool.objects.filter(pk=hot_pool.pk).update(energy_limit=0)
    queued = key_client.post(URL, body(customer), format="json").json()
    assert queued["status"] == "queued"
    EnergyPool.objects.filter(pk=hot_pool.pk).update(energy_limit=10**7)
    # The allocation committed, then the process died before moving the withdrawal on.
    reservations_allocate(
        pool_id=hot_pool.pk,
        requests=[(queued["id"], USDT_TRANSFER_ENERGY_COLD)],
        ttl=timedelta(minutes=5),
    )
    assert queue_allocate() == 1  # adopted, not reserved twice
    assert Withdrawal.objects.get(pk=queued["id"]).status == "reserved"
    assert Reservation.objects.filter(withdrawal_id=queued["id"]).count() == 1
    assert not QueueEntry.objects.exists()


def test_a_queue_head_that_cannot_be_served_raises_an_alert(hot_pool, customer, key_client):
    from alerts.models import EnergyAlert
    from alerts.services.rules import alerts_check

    EnergyPool.objects.filter(pk=hot_pool.pk).update(energy_limit=1000)  # below one transfer
    key_client.post(URL, body(customer), format="json")
    alerts_check(check_node=False)
    alert = EnergyAlert.objects.get(kind="queue_backlog")
    # The queue is the partner's, served by all of its pools: so is the alert.
    assert (alert.partner_id, alert.pool_id, alert.level) == (hot_pool.partner_id, None, "critical")
    assert "largest sending pool's limit is 1000" in alert.message
    EnergyPool.objects.filter(pk=hot_pool.pk).update(energy_limit=10**7)
    alerts_check(check_node=False)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


@pytest.mark.django_db(transaction=True)
def test_requests_and_cancels_on_one_customer_and_pool_do_not_deadlock(devnet, partner):
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 100)
    devnet.mint(address, 100)
    signing_key_import(private_key_hex=key.hex())
    pool = EnergyPoolFactory(
        partner=partner, address=address, custody="custodial", energy_limit=10**8
    )
    customer = CustomerFactory(partner=partner)
    balance_credit(
        customer=customer, currency="USDT", amount=Decimal("1000"), idempotency_key="seed"
    )
    from withdrawals.services.requests import withdrawal_cancel, withdrawal_request

    existing = [
        withdrawal_request(customer=customer, to_address=new_address(), amount=Decimal("1"))[0]
        for _ in range(8)
    ]
    barrier = threading.Barrier(8)
    errors = []

    def work(index):
        try:
            barrier.wait()
            for _ in range(3):
                if index % 2:
                    withdrawal_request(
                        customer=customer, to_address=new_address(), amount=Decimal("1")
                    )
                else:
                    withdrawal_cancel(withdrawal=existing[index])
                    withdrawal_cancel(withdrawal=existing[index + 1])
        except Exception as exc:  # a deadlock would surface here
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    pool.refresh_from_db()
    from pools.selectors import ledger_audit

    assert ledger_audit() == []
    assert Withdrawal.objects.filter(status="reserved").count() == 12


def test_intake_statement_budget(hot_pool, customer, key_client):
    """The statements one request costs (bench/intake.py): a guard against new ones."""
    key_client.post(URL, body(customer), format="json")  # the key's last use is recorded once
    with CaptureQueriesContext(connection) as queries:
        response = key_client.post(
            URL, body(customer), format="json", HTTP_IDEMPOTENCY_KEY="budget-1"
        )
    assert response.status_code == 201, response.content
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    # key, customer, pool and replay | the writes in one statement (withdrawals/services/
    # intake.py): in production it is its own transaction; inside the test's transaction a
    # savepoint stands around it | reserved: did someone queue while it waited for a lock?
    assert statements == ["SELECT", "SELECT", "SELECT", "SAVEPOINT", "WITH", "RELEASE", "SELECT"]


def test_allocating_a_longer_queue_costs_no_more_statements(devnet, hot_pool, customer):
    """One pass per pool, whatever its queue length (the model's ordering once made the
    DISTINCT repeat the pool for every entry)."""
    from django.test.utils import CaptureQueriesContext

    EnergyPool.objects.filter(pk=hot_pool.pk).update(energy_used=hot_pool.energy_limit)

    def queue(n: int) -> None:
        for _ in range(n):
            withdrawal, _ = withdrawal_request(
                customer=customer, to_address=new_address(), amount=Decimal("1")
            )
            assert withdrawal.status == "queued"

    def statements() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert queue_allocate() == 0  # still no room: nothing moves
        return len(queries.captured_queries)

    queue(2)
    few = statements()
    queue(10)
    assert statements() == few


def test_a_pool_the_platform_holds_no_key_for_takes_no_withdrawals(
    devnet, partner, customer, key_client
):
    EnergyPoolFactory(partner=partner, custody=EnergyPool.Custody.CUSTODIAL, energy_limit=10**7)
    response = key_client.post(URL, body(customer), format="json")
    assert response.status_code == 400
    assert "no active pool" in response.json()["error"]["fields"]["non_field_errors"][0]
    assert not Withdrawal.objects.exists()
    assert balance(customer) == (Decimal("1000"), Decimal("0"))
