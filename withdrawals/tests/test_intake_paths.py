"""The two ways a withdrawal request is recorded hold to one contract: on PostgreSQL one
statement (withdrawals/services/intake.py), elsewhere (the embedded SQLite of `make run`)
statement by statement. Both run here on PostgreSQL, on the same cases: reserved, queued
behind the partner's queue, queued for want of energy, refused for want of funds (nothing
changes), and a key used again (the stored withdrawal, or 422 for another body)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from tronpy.keys import PrivateKey

from common.db import compiled_query
from common.idempotency import IdempotencyMismatch, request_hash
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
