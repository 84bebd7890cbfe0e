"""The two ways a withdrawal request is recorded hold to one contract: on PostgreSQL one
statement (withdrawals/services/intake.py), elsewhere (the embedded SQLite of `make run`)
statement by statement. Both run here on PostgreSQL, on the same cases: reserved, queued
behind the partner's queue, queued for want of energy, refused for want of funds (nothing
changes), and a key used again (the stored withdrawal, or 422 for another body)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from tronpy.keys import PrivateKey

from common.db import compiled_query
from common.idempotency import IdempotencyMismatch, request_hash
from conftest import wait_for_a_blocked_query
from partners.models import Customer
from partners.tests.factories import CustomerFactory
from pools.models import EnergyPool, Reservation
from pools.services.keys import signing_key_import
from pools.tests.factories import EnergyPoolFactory
from tests.db_state import database_state
from withdrawals.models import Balance, Hold, QueueEntry, Withdrawal
from withdrawals.services.balances import balance_credit
from withdrawals.services.requests import _record_in_one_statement, _record_step_by_step
from withdrawals.tests.factories import WithdrawalFactory

pytestmark = pytest.mark.django_db

ENERGY = 130_285
Record = Callable[..., tuple[Withdrawal, bool]]
PATHS = {"one statement": _record_in_one_statement, "step by step": _record_step_by_step}


@pytest.fixture(params=sorted(PATHS))
def record(request: pytest.FixtureRequest) -> Record:
    return PATHS[request.param]


@pytest.fixture
def pool(partner):
    """A sending pool (custodial, its key held) with room for two transfers."""
    key = PrivateKey.random()
    signing_key_import(private_key_hex=key.hex())
    return EnergyPoolFactory(
        partner=partner,
        address=key.public_key.to_base58check_address(),
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=2 * ENERGY + 10,
        energy_used=0,
        reserved_energy=0,
    )


@pytest.fixture
def customer(partner):
    customer = CustomerFactory(partner=partner)
    balance_credit(customer=customer, currency="USDT", amount=Decimal("100"), idempotency_key="s")
    return customer


def unsaved(customer: Customer, pool: EnergyPool, *, amount: str = "25.5", key: str | None = None):
    """The withdrawal as `withdrawal_request` hands it to the writer."""
    to_address = PrivateKey.random().public_key.to_base58check_address()
    return Withdrawal(
        customer=customer,
        partner=customer.partner,
        pool_id=pool.pk,
        to_address=to_address,
        amount=Decimal(amount),
        idempotency_key=key,
        request_hash=request_hash({"to": to_address, "amount": amount}),
        energy_estimate=ENERGY,
        status=Withdrawal.Status.RESERVED,
        request_id="req-1",
    )


def balance(customer: Customer) -> tuple[Decimal, Decimal]:
    row = Balance.objects.get(customer=customer, currency="USDT")
    return row.available, row.held


def test_reserved_on_the_pool_with_its_funds_held(record, customer, pool):
    before = timezone.now()
    withdrawal, created = record(unsaved(customer, pool), pool_id=pool.pk, energy=ENERGY)
    assert created
    stored = Withdrawal.objects.get(pk=withdrawal.pk)
    assert (stored.status, stored.pool_id) == (Withdrawal.Status.RESERVED, pool.pk)
    assert (withdrawal.status, withdrawal.pool_id) == (stored.status, stored.pool_id)
    assert (stored.amount, stored.energy_estimate, stored.request_id) == (
        Decimal("25.5"),
        ENERGY,
        "req-1",
    )
    assert stored.created_at >= before
    assert stored.updated_at >= before
    hold = Hold.objects.get(withdrawal=stored)
    assert (hold.amount, hold.state, hold.resolved_at) == (Decimal("25.5"), Hold.State.HELD, None)
    assert balance(customer) == (Decimal("74.5"), Decimal("25.5"))
    reservation = Reservation.objects.get(withdrawal=stored)
    assert (reservation.pool_id, reservation.estimated_energy, reservation.state) == (
        pool.pk,
        ENERGY,
        Reservation.State.PENDING,
    )
    assert reservation.expires_at is not None
    assert reservation.expires_at > before
    pool.refresh_from_db()
    assert pool.reserved_energy == ENERGY
    assert not QueueEntry.objects.exists()


def test_queued_behind_the_partners_queue(record, customer, pool):
    waiting = WithdrawalFactory(partner=customer.partner, status=Withdrawal.Status.QUEUED)
    QueueEntry.objects.create(
        withdrawal=waiting,
        partner=customer.partner,
        energy_needed=ENERGY,
        enqueued_at=timezone.now() - timedelta(minutes=1),
    )
    withdrawal, created = record(unsaved(customer, pool), pool_id=pool.pk, energy=ENERGY)
    assert created
    stored = Withdrawal.objects.get(pk=withdrawal.pk)
    assert (stored.status, stored.pool_id) == (Withdrawal.Status.QUEUED, None)
    assert (withdrawal.status, withdrawal.pool_id) == (stored.status, None)
    entry = QueueEntry.objects.get(withdrawal=stored)
    assert (entry.partner_id, entry.energy_needed) == (customer.partner_id, ENERGY)
    assert balance(customer) == (Decimal("74.5"), Decimal("25.5"))  # held while it waits
    assert not Reservation.objects.filter(withdrawal=stored).exists()
    pool.refresh_from_db()
    assert pool.reserved_energy == 0


def test_queued_when_the_pool_cannot_cover_it(record, customer, pool):
    EnergyPool.objects.filter(pk=pool.pk).update(energy_used=ENERGY + 20)
    withdrawal, _ = record(unsaved(customer, pool), pool_id=pool.pk, energy=ENERGY)
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == Withdrawal.Status.QUEUED
    assert QueueEntry.objects.filter(withdrawal_id=withdrawal.pk).exists()
    assert Hold.objects.filter(withdrawal_id=withdrawal.pk).exists()
    assert EnergyPool.objects.get(pk=pool.pk).reserved_energy == 0


def test_funds_short_changes_nothing(record, customer, pool):
    state = database_state()
    with pytest.raises(ValidationError) as refused:
        record(unsaved(customer, pool, amount="100.000001"), pool_id=pool.pk, energy=ENERGY)
    assert "does not cover" in refused.value.message_dict["amount"][0]
    assert database_state() == state


def test_no_balance_at_all_changes_nothing(record, partner, pool):
    state = database_state()
    with pytest.raises(ValidationError):
        record(unsaved(CustomerFactory(partner=partner), pool), pool_id=pool.pk, energy=ENERGY)
    assert database_state() | {"partners_customer": ""} == state | {"partners_customer": ""}


def test_a_key_used_again(record, customer, pool):
    first, created = record(unsaved(customer, pool, key="k-1"), pool_id=pool.pk, energy=ENERGY)
    assert created
    twin = unsaved(customer, pool, key="k-1")
    twin.request_hash = first.request_hash
    again, created = record(twin, pool_id=pool.pk, energy=ENERGY)
    assert (again.pk, created) == (first.pk, False)
    state = database_state()
    with pytest.raises(IdempotencyMismatch):
        record(unsaved(customer, pool, key="k-1"), pool_id=pool.pk, energy=ENERGY)
    assert database_state() == state
    assert Withdrawal.objects.filter(idempotency_key="k-1").count() == 1


def test_a_compiled_query_refuses_a_parameter_it_cannot_bind():
    """`compiled_query` binds by value: a lookup that changes the value (a LIKE pattern)
    would leave the stand-in in the SQL, so it is refused when compiled."""
    with pytest.raises(ValueError, match="did not reach the SQL unchanged"):
        compiled_query(
            "test_refused",
            lambda ref: Customer.objects.filter(external_ref__startswith=ref),
            ref=str,
        )
    query = compiled_query(
        "test_bound", lambda ref: Customer.objects.filter(external_ref=ref).values("pk"), ref=str
    )
    assert query.bind(ref="x").count("x") == 1


def test_the_withdrawal_written_by_hand_is_what_drf_would_write(customer, pool, record):
    """`WithdrawalSerializer.to_representation` is written out by hand for the intake path:
    it must stay equal to DRF's generic walk over the declared fields, whatever the state."""
    import sys

    from django.urls import resolve
    from rest_framework import serializers

    # The serializers live beside the view that answers the request.
    view = resolve("/api/v1/withdrawals").func.view_class
    module = sys.modules[view.__module__]
    summary, full = module.WithdrawalSummarySerializer, module.WithdrawalSerializer

    reserved, _ = record(unsaved(customer, pool), pool_id=pool.pk, energy=ENERGY)
    EnergyPool.objects.filter(pk=pool.pk).update(energy_used=2 * ENERGY)
    queued, _ = record(unsaved(customer, pool, amount="0.000001"), pool_id=pool.pk, energy=ENERGY)
    done = WithdrawalFactory(
        partner=customer.partner,
        status=Withdrawal.Status.CONFIRMED,
        energy_used=64_285,
        trx_burned_sun=0,
        failure_reason="",
        confirmed_at=timezone.now(),
    )
    for withdrawal in (reserved, queued, Withdrawal.objects.get(pk=reserved.pk), done):
        for cls in (summary, full):
            serializer = cls(withdrawal)
            generic = dict(serializers.ModelSerializer.to_representation(serializer, withdrawal))
            assert serializer.to_representation(withdrawal) == generic
            assert list(serializer.to_representation(withdrawal)) == list(generic)


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_in_one_statement_never_overspend_nor_overreserve(partner):
    """Twelve requests at once on one balance that covers eight and one pool that covers
    three: three reserved, five queued behind them, four refused; the ledger balances."""
    import threading

    from django.db import connection

    key = PrivateKey.random()
    signing_key_import(private_key_hex=key.hex())
    pool = EnergyPoolFactory(
        partner=partner,
        address=key.public_key.to_base58check_address(),
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=3 * ENERGY,
        energy_used=0,
        reserved_energy=0,
    )
    customer = CustomerFactory(partner=partner)
    balance_credit(customer=customer, currency="USDT", amount=Decimal("8"), idempotency_key="s")
    barrier = threading.Barrier(12)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def request() -> None:
        try:
            barrier.wait()
            withdrawal, _ = _record_in_one_statement(
                unsaved(customer, pool, amount="1"), pool_id=pool.pk, energy=ENERGY
            )
            outcomes.append(withdrawal.status)
        except ValidationError:
            outcomes.append("refused")
        except BaseException as exc:  # a deadlock or a constraint would surface here
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(outcomes) == sorted(["reserved"] * 3 + ["queued"] * 5 + ["refused"] * 4)
    assert balance(customer) == (Decimal("0"), Decimal("8"))
    assert Hold.objects.filter(withdrawal__customer=customer).count() == 8
    assert QueueEntry.objects.filter(partner=partner).count() == 5
    pool.refresh_from_db()
    pending = Reservation.objects.filter(pool=pool, state=Reservation.State.PENDING)
    assert pending.count() == 3
    assert pool.reserved_energy == 3 * ENERGY == sum(r.estimated_energy for r in pending)
    assert set(pending.values_list("withdrawal__status", flat=True)) == {"reserved"}


def _started(*jobs: tuple[Callable[[], None], float]) -> list[threading.Thread]:
    """Each job started in its own thread after its delay (seconds after the one before)."""
    threads = []
    for job, delay in jobs:
        time.sleep(delay)
        thread = threading.Thread(target=job)
        thread.start()
        threads.append(thread)
    return threads


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.django_db(transaction=True)
def test_a_younger_request_does_not_take_energy_an_older_one_waits_for(path, partner):
    """A (too big for the energy free now: queued) and then B (fits) of one customer wait on
    the customer's balance row. A queues while B waits; B must queue behind A, not keep
    the energy A waits for — the one statement checked the queue in a snapshot taken before
    its wait (found by review), so it steps back in line after."""
    from django.db import connection, connections

    key = PrivateKey.random()
    signing_key_import(private_key_hex=key.hex())
    pool = EnergyPoolFactory(
        partner=partner,
        address=key.public_key.to_base58check_address(),
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=200_000,
        energy_used=100_000,  # 100,000 free: A (130,000) later, B (65,000) now
        reserved_energy=0,
    )
    customer = CustomerFactory(partner=partner)
    balance_credit(customer=customer, currency="USDT", amount=Decimal("10"), idempotency_key="s")
    results: dict[str, tuple[int, str]] = {}

    def request(name: str, energy: int) -> Callable[[], None]:
        def run() -> None:
            try:
                withdrawal = unsaved(customer, pool, amount="1")
                withdrawal.energy_estimate = energy
                recorded, _ = PATHS[path](withdrawal, pool_id=pool.pk, energy=energy)
                results[name] = (recorded.pk, recorded.status)
            finally:
                connection.close()

        return run

    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    with holder.cursor() as cursor:  # the balance row held: both requests wait on it
        cursor.execute(
            "UPDATE withdrawals_balance SET updated_at = now() WHERE customer_id = %s",
            [customer.pk],
        )

    # A waits on the row first, then B behind it (counted, not guessed with sleeps: on a
    # loaded machine A's thread could start late and B reach the lock first).
    started = _started((request("A", 130_000), 0))
    wait_for_a_blocked_query()
    started += _started((request("B", 65_000), 0))
    wait_for_a_blocked_query(at_least=2)
    holder.commit()  # in this thread: the connection belongs to it
    holder.close()
    for thread in started:
        thread.join()
    assert results["A"][1] == "queued"
    assert results["B"][1] == "queued"
    b = Withdrawal.objects.get(pk=results["B"][0])
    assert (b.status, b.pool_id) == ("queued", None)
    entries = list(
        QueueEntry.objects.order_by("enqueued_at").values_list("withdrawal_id", flat=True)
    )
    assert entries == [results["A"][0], results["B"][0]]
    pool.refresh_from_db()
    assert pool.reserved_energy == 0
    assert not Reservation.objects.filter(state=Reservation.State.PENDING).exists()
    assert balance(customer) == (Decimal("8"), Decimal("2"))


@pytest.mark.django_db(transaction=True)
def test_a_twin_that_commits_after_the_statements_snapshot_is_replayed(partner, monkeypatch):
    """T2 (same key and body as T1) starts its statement, T1 commits and spends the funds,
    then T2 wins the key: T2 answers with T1's withdrawal, not "insufficient funds" (found
    by review). The window is widened by a sleep before the claim."""
    from django.db import connection

    from withdrawals.services import intake

    key = PrivateKey.random()
    signing_key_import(private_key_hex=key.hex())
    pool = EnergyPoolFactory(
        partner=partner,
        address=key.public_key.to_base58check_address(),
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=10 * ENERGY,
        energy_used=0,
        reserved_energy=0,
    )
    customer = CustomerFactory(partner=partner)
    balance_credit(customer=customer, currency="USDT", amount=Decimal("1"), idempotency_key="s")
    to_address = PrivateKey.random().public_key.to_base58check_address()
    claim = "k AS (SELECT pg_try_advisory_xact_lock(%s) AS got)"
    slow_sql = intake._statement(keyed=True, vendor="postgresql").replace(
        claim, "k AS (SELECT pg_try_advisory_xact_lock(%s) AS got FROM pg_sleep(0.6))"
    )
    assert slow_sql != intake._statement(keyed=True, vendor="postgresql")
    slow = threading.local()
    real = intake._statement

    def statement(*, keyed: bool, vendor: str) -> str:
        return slow_sql if getattr(slow, "on", False) else real(keyed=keyed, vendor=vendor)

    monkeypatch.setattr(intake, "_statement", statement)
    results: dict[str, tuple[int, bool] | str] = {}

    def request(name: str, delayed: bool) -> Callable[[], None]:
        def run() -> None:
            slow.on = delayed
            try:
                withdrawal = unsaved(customer, pool, amount="1", key="K")
                withdrawal.to_address = to_address
                withdrawal.request_hash = request_hash({"to": to_address, "amount": "1"})
                recorded, created = _record_in_one_statement(
                    withdrawal, pool_id=pool.pk, energy=ENERGY
                )
                results[name] = (recorded.pk, created)
            except ValidationError as exc:
                results[name] = str(exc)
            finally:
                connection.close()

        return run

    for thread in _started((request("T2", True), 0), (request("T1", False), 0.2)):
        thread.join()
    t1 = results["T1"]
    assert isinstance(t1, tuple)
    assert t1[1] is True
    assert results["T2"] == (t1[0], False)
    assert Withdrawal.objects.count() == 1
