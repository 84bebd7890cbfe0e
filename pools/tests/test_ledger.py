"""The reservation ledger: unit behaviour, concurrency on PostgreSQL, and a state machine
checked against a reference model."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from pools.models import EnergyPool, Reservation
from pools.selectors import ledger_audit
from pools.services.ledger import (
    reservation_mark_signed,
    reservation_post,
    reservation_reserve,
    reservation_void,
    reservations_allocate,
    reservations_expire,
)
from pools.tests.factories import EnergyPoolFactory
from withdrawals.tests.factories import WithdrawalFactory

TTL = timedelta(minutes=5)


def pool_numbers(pool):
    pool.refresh_from_db()
    return pool.energy_used, pool.reserved_energy


@pytest.fixture
def pool(db):
    return EnergyPoolFactory(energy_limit=200_000, energy_used=0)


def withdrawal_for(pool):
    return WithdrawalFactory(partner=pool.partner)


@pytest.mark.django_db
class TestLedger:
    def test_reserve_until_the_pool_is_full(self, pool):
        first = reservation_reserve(
            pool_id=pool.pk, withdrawal_id=withdrawal_for(pool).pk, energy=130_285, ttl=TTL
        )
        assert first is not None
        assert pool_numbers(pool) == (0, 130_285)
        second = reservation_reserve(
            pool_id=pool.pk, withdrawal_id=withdrawal_for(pool).pk, energy=70_000, ttl=TTL
        )
        assert second is None  # 69,715 left
        assert pool_numbers(pool) == (0, 130_285)
        assert Reservation.objects.count() == 1

    def test_paused_pool_reserves_nothing(self, pool):
        EnergyPool.objects.filter(pk=pool.pk).update(status=EnergyPool.Status.PAUSED)
        assert (
            reservation_reserve(
                pool_id=pool.pk, withdrawal_id=withdrawal_for(pool).pk, energy=1, ttl=TTL
            )
            is None
        )

    def test_post_charges_real_energy_and_releases_the_estimate(self, pool):
        res = reservation_reserve(
            pool_id=pool.pk, withdrawal_id=withdrawal_for(pool).pk, energy=130_285, ttl=TTL
        )
        assert reservation_post(reservation_id=res.pk, energy_used=64_285)
        assert pool_numbers(pool) == (64_285, 0)
        res.refresh_from_db()
        assert (res.state, res.posted_energy, res.expires_at) == ("posted", 64_285, None)
        assert res.resolved_at is not None
        # resolved at most once
        assert not reservation_post(reservation_id=res.pk, energy_used=64_285)
        assert not reservation_void(reservation_id=res.pk)
        assert pool_numbers(pool) == (64_285, 0)

    def test_void_releases_everything(self, pool):
        res = reservation_reserve(
            pool_id=pool.pk, withdrawal_id=withdrawal_for(pool).pk, energy=64_285, ttl=TTL
        )
        assert reservation_void(reservation_id=res.pk)
        assert pool_numbers(pool) == (0, 0)
        assert not reservation_void(reservation_id=res.pk)

    def test_expiry_applies_only_before_signing(self, pool):
        unsigned = reservation_reserve(
            pool_id=pool.pk,
            withdrawal_id=withdrawal_for(pool).pk,
            energy=50_000,
            ttl=timedelta(seconds=-1),
        )
        signed = reservation_reserve(
            pool_id=pool.pk, withdrawal_id=withdrawal_for(pool).pk, energy=60_000, ttl=TTL
        )
        fresh = reservation_reserve(
            pool_id=pool.pk, withdrawal_id=withdrawal_for(pool).pk, energy=70_000, ttl=TTL
        )
        assert reservation_mark_signed(reservation_id=signed.pk)
        Reservation.objects.filter(pk=fresh.pk).update(expires_at=None)  # signed, too
        assert reservations_expire() == 1
        states = dict(Reservation.objects.values_list("pk", "state"))
        assert states == {unsigned.pk: "voided", signed.pk: "pending", fresh.pk: "pending"}
        assert pool_numbers(pool) == (0, 130_000)
        assert not reservation_mark_signed(reservation_id=unsigned.pk)  # too late to sign

    def test_an_expired_reservation_cannot_be_signed_before_the_sweep(self, pool):
        late = reservation_reserve(
            pool_id=pool.pk,
            withdrawal_id=withdrawal_for(pool).pk,
            energy=50_000,
            ttl=timedelta(seconds=-1),
        )
        assert not reservation_mark_signed(reservation_id=late.pk)

    def test_allocate_in_order_while_it_fits(self, pool):
        requests = [
            (withdrawal_for(pool).pk, energy) for energy in (64_285, 64_285, 130_285, 1_000)
        ]
        granted = reservations_allocate(pool_id=pool.pk, requests=requests, ttl=TTL)
        # The third does not fit (71,430 left); the fourth waits behind it.
        assert [a.withdrawal_id for a in granted] == [requests[0][0], requests[1][0]]
        stored = dict(Reservation.objects.values_list("pk", "withdrawal_id"))
        assert stored == {a.reservation_id: a.withdrawal_id for a in granted}
        assert pool_numbers(pool) == (0, 128_570)

    def test_audit_finds_a_drifted_pool(self, pool):
        reservation_reserve(
            pool_id=pool.pk, withdrawal_id=withdrawal_for(pool).pk, energy=10_000, ttl=TTL
        )
        assert ledger_audit() == []
        EnergyPool.objects.filter(pk=pool.pk).update(reserved_energy=9_999)
        (breach,) = ledger_audit()
        assert (breach.pool_id, breach.reserved_energy, breach.pending_total) == (
            pool.pk,
            9_999,
            10_000,
        )

    def test_bad_energy_is_refused(self, pool):
        with pytest.raises(ValueError, match="positive"):
            reservation_reserve(
                pool_id=pool.pk, withdrawal_id=withdrawal_for(pool).pk, energy=0, ttl=TTL
            )
        with pytest.raises(ValueError, match="negative"):
            reservation_post(reservation_id=1, energy_used=-1)


@pytest.mark.django_db(transaction=True)
def test_many_workers_never_over_reserve_one_pool():
    pool = EnergyPoolFactory(energy_limit=1_000_000, energy_used=0)
    withdrawals = [WithdrawalFactory(partner=pool.partner).pk for _ in range(80)]
    barrier = threading.Barrier(8)
    granted: list[int] = []

    def worker(mine: list[int]) -> None:
        try:
            barrier.wait()
            for index, withdrawal_id in enumerate(mine):
                if index % 2:
                    res = reservation_reserve(
                        pool_id=pool.pk, withdrawal_id=withdrawal_id, energy=64_285, ttl=TTL
                    )
                    granted.extend([res.pk] if res else [])
                else:
                    got = reservations_allocate(
                        pool_id=pool.pk, requests=[(withdrawal_id, 64_285)], ttl=TTL
                    )
                    granted.extend(a.reservation_id for a in got)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(withdrawals[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pool.refresh_from_db()
    assert len(granted) == 1_000_000 // 64_285 == 15
    assert pool.reserved_energy == 15 * 64_285 <= pool.energy_limit
    assert ledger_audit() == []


class LedgerMachine(RuleBasedStateMachine):
    """Random sequences of ledger operations against a model of what must hold."""

    reservations = Bundle("reservations")

    @initialize(limit=st.integers(min_value=0, max_value=500_000))
    def setup(self, limit):
        self.pool = EnergyPoolFactory(energy_limit=limit, energy_used=0)
        self.used = 0
        self.pending: dict[int, int] = {}
        self.resolved: set[int] = set()
        self.expiring: set[int] = set()  # unsigned, past their expiry

    def _withdrawal(self):
        return WithdrawalFactory(partner=self.pool.partner).pk

    @rule(
        target=reservations,
        energy=st.integers(min_value=1, max_value=200_000),
        expired=st.booleans(),
    )
    def reserve(self, energy, expired):
        available = self.pool.energy_limit - self.used - sum(self.pending.values())
        ttl = timedelta(seconds=-1) if expired else TTL
        res = reservation_reserve(
            pool_id=self.pool.pk, withdrawal_id=self._withdrawal(), energy=energy, ttl=ttl
        )
        assert (res is not None) == (energy <= available)
        if res is None:
            return -1
        self.pending[res.pk] = energy
        if expired:
            self.expiring.add(res.pk)
        return res.pk

    @rule(sizes=st.lists(st.integers(min_value=1, max_value=100_000), max_size=5))
    def allocate(self, sizes):
        available = self.pool.energy_limit - self.used - sum(self.pending.values())
        expected = []
        for size in sizes:
            if size > available:
                break
            available -= size
            expected.append(size)
        got = reservations_allocate(
            pool_id=self.pool.pk, requests=[(self._withdrawal(), s) for s in sizes], ttl=TTL
        )
        assert [a.energy for a in got] == expected
        for a in got:
            self.pending[a.reservation_id] = a.energy

    @rule(res=consumes(reservations), fraction=st.floats(min_value=0, max_value=1))
    def post(self, res, fraction):
        if res < 0:
            return
        estimate = self.pending.get(res, 0)
        actual = int(estimate * fraction)
        assert reservation_post(reservation_id=res, energy_used=actual) == (res in self.pending)
        if res in self.pending:
            del self.pending[res]
            self.used += actual
            self.resolved.add(res)

    @rule(res=consumes(reservations))
    def void(self, res):
        if res < 0:
            return
        assert reservation_void(reservation_id=res) == (res in self.pending)
        self.pending.pop(res, None)
        self.resolved.add(res)

    @rule(res=reservations)
    def sign(self, res):
        if res < 0:
            return
        signable = res in self.pending and res not in self.expiring
        assert reservation_mark_signed(reservation_id=res) == signable

    @rule()
    def expire(self):
        due = {pk for pk in self.expiring if pk in self.pending}
        reservations_expire()
        for pk in due:
            del self.pending[pk]
            self.resolved.add(pk)
        self.expiring -= due
        still = set(
            Reservation.objects.filter(pool=self.pool, state="pending").values_list("pk", flat=True)
        )
        assert still == set(self.pending)

    @invariant()
    def reserved_equals_pending(self):
        if not hasattr(self, "pool"):
            return
        self.pool.refresh_from_db()
        assert self.pool.reserved_energy == sum(self.pending.values())
        assert self.pool.energy_used == self.used
        # Never promised past the limit: posts charge at most what they had reserved.
        assert self.pool.reserved_energy + self.pool.energy_used <= self.pool.energy_limit
        assert not [b for b in ledger_audit() if b.pool_id == self.pool.pk]


@pytest.mark.slow
@pytest.mark.django_db
def test_ledger_state_machine():
    LedgerMachine.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    LedgerMachine.TestCase().runTest()
