"""One queue per partner, served from all of its sending pools, strictly oldest first
(withdrawals/services/requests.py): allocation, head of line, intake, the place and wait
users are shown, statement counts, crashes and concurrency, and a queue drained on the
devnet through another pool than the one that ran dry."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from tronpy.keys import PrivateKey

from alerts.models import EnergyAlert
from alerts.services.rules import alerts_check
from partners.models import Customer, Partner
from partners.tests.factories import CustomerFactory
from pools import events as pools_events
from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD, USDT_TRANSFER_ENERGY_WARM
from pools.models import EnergyPool, EnergyUsageLog, Reservation
from pools.selectors import ledger_audit
from pools.services.keys import signing_key_import
from pools.services.sync import pools_sync
from pools.tests.factories import EnergyPoolFactory
from withdrawals.models import QueueEntry, Withdrawal
from withdrawals.selectors import (
    BANDWIDTH_FEE_SUN,
    USDT_TRANSFER_BANDWIDTH,
    energy_status,
    queue_place,
)
from withdrawals.services.audit import expire_and_audit
from withdrawals.services.balances import balance_credit
from withdrawals.services.requests import queue_allocate, withdrawal_cancel, withdrawal_request
from withdrawals.services.sending import withdrawals_drive

ROOT = Path(__file__).resolve().parents[2]
COLD = USDT_TRANSFER_ENERGY_COLD
WARM = USDT_TRANSFER_ENERGY_WARM
TRX = 1_000_000
DAY = 86_400


def new_address() -> str:
    address: str = PrivateKey.random().public_key.to_base58check_address()
    return address


def sending_pool(devnet, partner: Partner, *, limit: int = 0, used: int = 0, label: str = ""):
    """A custodial pool the platform holds the key for, with TRX and 10,000 USDT on chain;
    its energy numbers as given (as the last sync would have left them)."""
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 100)
    devnet.mint(address, 10_000)
    signing_key_import(private_key_hex=key.hex())
    pool = EnergyPoolFactory(
        partner=partner,
        address=address,
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=limit,
        energy_used=used,
        label=label or address[:8],
    )
    pool.key = key
    return pool


def free(pool: EnergyPool, energy: int) -> None:
    """The pool regrew: `energy` is free (as a sync of the chain would record it)."""
    pool.refresh_from_db()
    EnergyPool.objects.filter(pk=pool.pk).update(
        energy_used=pool.energy_limit - pool.reserved_energy - energy
    )


def make_customer(partner: Partner, username: str | None = None) -> Customer:
    extra = {"user__username": username} if username else {}
    customer = CustomerFactory(partner=partner, **extra)
    balance_credit(
        customer=customer, currency="USDT", amount=Decimal("1000"), idempotency_key="seed"
    )
    return customer


@pytest.fixture
def customer(partner):
    return make_customer(partner, "alice")


def request(customer: Customer, *, warm: bool = False, devnet=None) -> Withdrawal:
    """A withdrawal of 1 USDT to a new address (a cold transfer), or to one that already
    holds USDT (warm)."""
    to = new_address()
    if warm:
        devnet.mint(to, 1)
    withdrawal, created = withdrawal_request(customer=customer, to_address=to, amount=Decimal(1))
    assert created
    assert withdrawal.energy_estimate == (WARM if warm else COLD)
    return withdrawal


def placed(withdrawals: list[Withdrawal]) -> list[tuple[str, int | None]]:
    """Each withdrawal's status and pool, in the order given; the reservation agrees."""
    ids = [w.pk for w in withdrawals]
    rows = {
        pk: (status, pool_id)
        for pk, status, pool_id in Withdrawal.objects.filter(pk__in=ids).values_list(
            "pk", "status", "pool_id"
        )
    }
    pending = dict(
        Reservation.objects.filter(withdrawal_id__in=ids, state="pending").values_list(
            "withdrawal_id", "pool_id"
        )
    )
    entries = set(
        QueueEntry.objects.filter(withdrawal_id__in=ids).values_list("withdrawal_id", flat=True)
    )
    for pk in ids:
        status, pool_id = rows[pk]
        assert pending.get(pk) == (pool_id if status == "reserved" else None)
        assert (pk in entries) == (status == "queued")
        if status == "queued":
            assert pool_id is None  # the partner's queue, not a pool's
    return [rows[pk] for pk in ids]


def assert_ledger_whole() -> None:
    assert ledger_audit() == []
    for limit, used, reserved in EnergyPool.objects.values_list(
        "energy_limit", "energy_used", "reserved_energy"
    ):
        assert reserved <= max(0, limit - used) or reserved == 0


pytestmark = pytest.mark.django_db

Q = ("queued", None)


def test_three_pools_serve_the_partner_queue_oldest_first(devnet, partner, customer):
    """The issue's case: the smallest pool is busy; the partner's other pools take the
    queue as soon as they can cover it, strictly oldest first over all three."""
    small = sending_pool(devnet, partner, limit=COLD + 1_000, used=COLD, label="small")
    big_a = sending_pool(devnet, partner, limit=10 * COLD, used=10 * COLD, label="a")
    big_b = sending_pool(devnet, partner, limit=10 * COLD, used=10 * COLD, label="b")
    queued = [request(customer) for _ in range(7)]
    # Queued on no pool: the partner's queue is served by whichever pool has the energy.
    assert placed(queued) == [Q] * 7
    assert queue_allocate() == 0  # nobody can cover one yet

    free(big_a, 2 * COLD + 5_000)
    assert queue_allocate() == 2  # at once, the two oldest
    assert placed(queued) == [("reserved", big_a.pk)] * 2 + [Q] * 5

    free(big_b, 3 * COLD)
    free(big_a, COLD)
    assert queue_allocate() == 4
    # Each the oldest still waiting, on the pool it fits most tightly: big_a's room for
    # exactly one before big_b's three; the small pool is still busy.
    assert placed(queued) == [("reserved", big_a.pk)] * 3 + [("reserved", big_b.pk)] * 3 + [Q]
    small.refresh_from_db()
    assert small.reserved_energy == 0

    free(small, COLD)  # the small pool regrew too: it serves the last one
    assert queue_allocate() == 1
    assert placed(queued)[-1] == ("reserved", small.pk)
    assert not QueueEntry.objects.exists()
    assert_ledger_whole()
    assert [EnergyPool.objects.get(pk=p.pk).reserved_energy for p in (small, big_a, big_b)] == [
        COLD,
        3 * COLD,
        3 * COLD,
    ]


def test_an_older_withdrawal_waiting_for_room_holds_the_younger_ones_back(
    devnet, partner, customer
):
    """A younger withdrawal never takes energy before an older one waiting for it: here
    each pool has room for a warm transfer, none for the older cold one."""
    a = sending_pool(devnet, partner, limit=10 * COLD, used=10 * COLD)
    b = sending_pool(devnet, partner, limit=10 * COLD, used=10 * COLD)
    older = request(customer)
    younger = request(customer, warm=True, devnet=devnet)
    free(a, WARM + 10)
    free(b, WARM + 10)
    assert queue_allocate() == 0
    # Nor does a new request jump it, though a pool could cover the new one now.
    newest = request(customer, warm=True, devnet=devnet)
    assert placed([older, younger, newest]) == [Q] * 3
    free(a, COLD + WARM)
    assert queue_allocate() == 3
    # The older one first, on the only pool that covers it; the rest fill what is left,
    # the tightest fit first (a has exactly one warm transfer left beside b's WARM + 10).
    assert placed([older, younger, newest]) == [
        ("reserved", a.pk),
        ("reserved", a.pk),
        ("reserved", b.pk),
    ]
    assert_ledger_whole()


def test_a_withdrawal_no_pool_could_ever_cover_keeps_its_place_but_blocks_nobody(
    devnet, partner, customer
):
    pool = sending_pool(devnet, partner, limit=130_000, used=130_000)  # under one cold transfer
    stuck = request(customer)
    younger = request(customer, warm=True, devnet=devnet)
    assert placed([stuck, younger]) == [Q, Q]
    free(pool, 130_000)
    assert queue_allocate() == 1
    assert placed([stuck, younger]) == [Q, ("reserved", pool.pk)]
    # A new request does not wait behind it either.
    assert request(customer, warm=True, devnet=devnet).status == "reserved"
    place = queue_place(withdrawal=stuck)
    assert place is not None
    assert (place.position, place.wait_seconds) == (1, -1)  # never, as things stand
    alerts_check(check_node=False)
    alert = EnergyAlert.objects.get(kind="queue_backlog", resolved_at__isnull=True)
    assert (alert.partner_id, alert.pool_id, alert.level) == (partner.pk, None, "critical")
    assert f"1 can never be served as things stand: the oldest needs {COLD}" in alert.message
    assert "largest sending pool's limit is 130000" in alert.message
    # More stake: now it can be served, in its turn, and the alert ends.
    EnergyPool.objects.filter(pk=pool.pk).update(energy_limit=130_000 + 2 * COLD)
    assert queue_allocate() == 1
    assert placed([stuck])[0] == ("reserved", pool.pk)
    alerts_check(check_node=False)
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert_ledger_whole()


def test_a_queue_with_no_pool_left_to_send_asks_a_person(devnet, partner, customer):
    from pools.services.onboarding import pool_set_status

    pool = sending_pool(devnet, partner, limit=COLD, used=COLD)
    queued = [request(customer) for _ in range(2)]
    pool_set_status(pool=pool, status=EnergyPool.Status.PAUSED)
    assert queue_allocate() == 0
    place = queue_place(withdrawal=queued[1])
    assert place is not None
    assert (place.position, place.wait_seconds) == (2, -1)
    assert energy_status(partner_id=partner.pk).energy_sufficient is False
    alerts_check(check_node=False)
    alert = EnergyAlert.objects.get(kind="queue_backlog", resolved_at__isnull=True)
    assert "2 can never be served" in alert.message
    assert "no pool that can send" in alert.message
    pool_set_status(pool=pool, status=EnergyPool.Status.ACTIVE)
    free(pool, COLD)
    assert queue_allocate() == 1
    assert placed(queued) == [("reserved", pool.pk), Q]
    alerts_check(check_node=False)  # the second waits for room now, which is no backlog
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_a_new_request_waits_behind_its_partners_queue_only(
    devnet, partner, other_partner, customer
):
    ours = sending_pool(devnet, partner, limit=10 * COLD, used=10 * COLD)
    theirs = sending_pool(devnet, other_partner, limit=COLD, used=COLD)
    their_customer = make_customer(other_partner)
    first = request(customer)
    their_first = request(their_customer)
    free(ours, 5 * COLD)  # energy is back, and the job has not run yet
    second = request(customer)
    assert placed([first, second, their_first]) == [Q, Q, Q]  # behind ours, not jumping it
    assert queue_allocate() == 2  # theirs still has no room
    assert placed([first, second, their_first]) == [("reserved", ours.pk)] * 2 + [Q]
    # Another partner's waiting queue holds nobody of ours back.
    assert request(customer).status == "reserved"
    assert placed([their_first]) == [Q]
    assert EnergyPool.objects.get(pk=theirs.pk).reserved_energy == 0


def test_cancelled_and_requeued_withdrawals_keep_the_order(devnet, partner, customer):
    sending_pool(devnet, partner, limit=10 * COLD, used=10 * COLD)
    b = sending_pool(devnet, partner, limit=10 * COLD, used=10 * COLD)
    queued = [request(customer) for _ in range(4)]
    withdrawal_cancel(withdrawal=queued[0])
    free(b, COLD)
    assert queue_allocate() == 1  # the cancelled one is skipped, not waited for
    assert placed(queued[1:]) == [("reserved", b.pk), Q, Q]
    # Its reservation expires unsigned: it goes back to the queue at its own place, off
    # its pool, and the energy released serves it again before the younger ones.
    Reservation.objects.filter(withdrawal=queued[1]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    expire_and_audit()
    assert placed(queued[1:]) == [Q] * 3
    assert queue_allocate() == 1
    assert placed(queued[1:]) == [("reserved", b.pk), Q, Q]
    assert_ledger_whole()


def test_queue_place_and_energy_status_are_the_partners(
    devnet, partner, other_partner, customer, key_client, outsider_key_client
):
    """Position counts the partner's whole queue; the wait is the energy ahead, less what
    is free over all its pools, at their summed regeneration — in the API and the pages."""
    # Another partner's long queue, older than ours, must not show in our places.
    other = sending_pool(devnet, other_partner, limit=COLD, used=COLD)
    for _ in range(3):
        request(make_customer(other_partner))
    small = sending_pool(devnet, partner, limit=COLD + 1_000, used=COLD)  # 1,000 free
    a = sending_pool(devnet, partner, limit=4 * COLD, used=4 * COLD)
    b = sending_pool(devnet, partner, limit=2 * COLD, used=2 * COLD)
    queued = [request(customer) for _ in range(3)]
    regen_per_second = (small.energy_limit + a.energy_limit + b.energy_limit) / DAY

    third = key_client.get(f"/api/v1/withdrawals/{queued[2].pk}/").json()
    assert third["pool"] is None
    assert third["queue"] == {
        "position": 3,
        "energy_ahead": 3 * COLD,
        "wait_seconds": int((3 * COLD - 1_000) / regen_per_second),
    }
    assert outsider_key_client.get(f"/api/v1/withdrawals/{queued[2].pk}/").status_code == 404

    status = key_client.get("/api/v1/energy/status").json()
    wait_minutes = math.ceil((4 * COLD - 1_000) / (regen_per_second * 60))
    assert (status["queue_position"], status["estimated_wait_time"]) == (4, wait_minutes)
    assert (status["available_energy"], status["energy_sufficient"]) == (1_000, False)
    theirs = outsider_key_client.get("/api/v1/energy/status").json()
    assert (theirs["queue_position"], theirs["available_energy"]) == (4, 0)
    assert other.partner_id != partner.pk

    # The customer's own pages say the same.
    page = Client()
    page.force_login(customer.user)
    progress = page.get(f"/withdrawals/{queued[2].pk}/status.json").json()
    seconds = int((3 * COLD - 1_000) / regen_per_second)
    assert (progress["queue_position"], progress["wait_minutes"]) == (3, (seconds + 59) // 60)
    assert f"position {4}" in page.get("/withdraw/").content.decode()

    # One pool regrows and serves the oldest: everyone moves up, the wait shrinks.
    free(a, COLD)
    assert queue_allocate() == 1
    place = queue_place(withdrawal=queued[2])
    assert place is not None
    assert (place.position, place.energy_ahead) == (2, 2 * COLD)
    assert place.wait_seconds == int((2 * COLD - 1_000) / regen_per_second)
    assert energy_status(partner_id=partner.pk).queue_position == 3


def test_energy_free_in_pieces_too_small_for_a_transfer_does_not_send_it(devnet, partner, customer):
    """A transfer is paid by one pool: the wait is until one pool alone could cover it."""
    pieces = [sending_pool(devnet, partner, limit=COLD, used=COLD // 4) for _ in range(2)]
    each = COLD - COLD // 4
    status = energy_status(partner_id=partner.pk)
    assert status.available_energy == 2 * each >= COLD
    assert (status.energy_sufficient, status.queue_position) == (False, 1)
    assert status.estimated_wait_time == math.ceil((COLD - each) / (COLD / 1440))
    withdrawal = request(customer)
    place = queue_place(withdrawal=withdrawal)
    assert place is not None
    assert place.wait_seconds == int((COLD - each) / (COLD / DAY))
    assert queue_allocate() == 0
    free(pieces[1], COLD)
    assert queue_allocate() == 1
    assert placed([withdrawal]) == [("reserved", pieces[1].pk)]


def test_allocation_statements_grow_with_pools_not_withdrawals(devnet, partner, customer):
    pools = [sending_pool(devnet, partner, limit=100 * COLD, used=100 * COLD) for _ in range(3)]

    def allocate(per_pool: int, pools_used: int) -> int:
        for _ in range(per_pool * pools_used):
            request(customer)
        for pool in pools[:pools_used]:
            free(pool, per_pool * COLD)  # each pool exactly full after its share
        pools_events._partner_of.clear()  # the hint's pool → partner cache, cold each time
        with CaptureQueriesContext(connection) as queries:
            assert queue_allocate() == per_pool * pools_used
        assert not QueueEntry.objects.exists()
        return len(queries.captured_queries)

    # Partners with a queue, orphans?, pools, head | savepoint, lock the withdrawals, one
    # UPDATE of withdrawals per pool, delete the entries, insert the reservations, one
    # UPDATE per pool, the live hint's pool → partner lookup | release.
    assert allocate(per_pool=1, pools_used=3) == 4 + 1 + 1 + 3 + 1 + 1 + 3 + 1 + 1
    assert allocate(per_pool=20, pools_used=3) == 16
    assert allocate(per_pool=20, pools_used=1) == 16 - 2 - 2
    assert_ledger_whole()


CRASH_SCRIPT = """
import os, django
django.setup()
from pools.services import ledger
from withdrawals.services import requests
point = os.environ["CRASH_AT"]
original_place, original_insert = requests.reservations_place, ledger._insert_pending
if point == "after_move":
    def place(**kwargs):
        os._exit(9)
    requests.reservations_place = place
elif point == "after_insert":
    def insert(**kwargs):
        original_insert(**kwargs)
        os._exit(9)
    ledger._insert_pending = insert
elif point == "before_commit":
    def place(**kwargs):
        original_place(**kwargs)
        os._exit(9)
    requests.reservations_place = place
requests.queue_allocate()
raise SystemExit("the crash point was never reached")
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("point", ["after_move", "after_insert", "before_commit"])
def test_a_process_killed_mid_allocation_loses_and_doubles_nothing(
    devnet, partner, settings, point
):
    customer = make_customer(partner)
    a = sending_pool(devnet, partner, limit=10 * COLD, used=10 * COLD)
    b = sending_pool(devnet, partner, limit=10 * COLD, used=10 * COLD)
    queued = [request(customer) for _ in range(4)]
    free(a, 2 * COLD)
    free(b, 2 * COLD)
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
    # All or nothing: the queue is as it was.
    assert placed(queued) == [Q] * 4
    assert not Reservation.objects.exists()
    assert_ledger_whole()
    assert queue_allocate() == 4
    assert placed(queued) == [("reserved", a.pk)] * 2 + [("reserved", b.pk)] * 2
    assert Reservation.objects.count() == 4
    assert_ledger_whole()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_allocators_intake_and_cancels_at_once_keep_every_invariant(devnet, partner):
    customer = make_customer(partner)
    pools = [sending_pool(devnet, partner, limit=10 * COLD, used=10 * COLD) for _ in range(3)]
    initial = [request(customer) for _ in range(24)]
    for index, pool in enumerate(pools):
        free(pool, (3 + index) * COLD)  # room for 12 of them
    barrier = threading.Barrier(5)
    errors: list[BaseException] = []
    cancelled: list[int] = []
    newcomers: list[int] = []

    def allocator() -> None:
        for _ in range(6):
            queue_allocate(batch_size=5)

    def intake() -> None:
        for _ in range(4):
            newcomers.append(request(customer).pk)

    def canceller() -> None:
        for withdrawal in initial[3::4]:
            withdrawal_cancel(withdrawal=withdrawal)
            cancelled.append(withdrawal.pk)

    def run(work) -> None:
        try:
            barrier.wait()
            work()
        except BaseException as exc:  # a deadlock or a constraint would surface here
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(work,))
        for work in (allocator, allocator, intake, intake, canceller)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    queue_allocate()
    assert_ledger_whole()
    everyone = list(Withdrawal.objects.filter(partner=partner).order_by("created_at", "pk"))
    states = placed(everyone)  # reservation, pool and queue entry agree for each
    assert len(everyone) == 24 + 8
    for withdrawal, (status, _) in zip(everyone, states, strict=True):
        if withdrawal.pk in cancelled:
            # Cancelled before or after it was served: nothing stays promised to it.
            assert status == "cancelled"
            assert not Reservation.objects.filter(withdrawal=withdrawal, state="pending").exists()
    alive = [s for w, (s, _) in zip(everyone, states, strict=True) if w.pk not in cancelled]
    # Strictly oldest first: those served are the oldest of those not cancelled.
    served = alive.count("reserved")
    assert alive == ["reserved"] * served + ["queued"] * (len(alive) - served)
    # All the room the pools had (twelve transfers' worth, some given back by cancels)
    # went to the oldest; the newcomers queued behind, none took energy directly.
    assert served == 12
    assert set(newcomers) <= {w.pk for w in everyone[-8:]}


def stake(devnet, pool: EnergyPool, trx: int) -> None:
    from pools.tests.test_chain_client import KeySigner, send

    client = chain_client()
    devnet.fund(pool.address, trx)
    unsigned = client.build_stake(owner=pool.address, amount_sun=trx * TRX)
    send(client, devnet, unsigned, KeySigner(pool.key))
    pools_sync(queryset=EnergyPool.objects.filter(pk=pool.pk))


def drive_all(devnet, withdrawals: list[Withdrawal], rounds: int = 8) -> None:
    for _ in range(rounds):
        withdrawals_drive()
        if all(
            w.status in Withdrawal.FINAL_STATUSES
            for w in Withdrawal.objects.filter(pk__in=[w.pk for w in withdrawals])
        ):
            return
        devnet.mine()


@pytest.mark.slow
def test_a_drained_pools_queue_goes_out_through_the_other_pool_on_its_energy(
    devnet, partner, customer
):
    """On the devnet: a burst drains the partner's staked pool; the withdrawals left waiting
    go out from the partner's other pool once it has energy, paid by its stake."""
    drained = sending_pool(devnet, partner, label="drained")
    other = sending_pool(devnet, partner, label="other")
    stake(devnet, drained, 35_000)  # room for two cold transfers, not three
    drained.refresh_from_db()
    assert 2 * COLD <= drained.energy_limit < 3 * COLD
    burst = [request(customer) for _ in range(5)]
    assert placed(burst) == [("reserved", drained.pk)] * 2 + [Q] * 3
    drive_all(devnet, burst[:2])
    pools_sync(queryset=EnergyPool.objects.filter(pk=drained.pk))
    drained.refresh_from_db()
    assert drained.energy_used >= 2 * COLD  # what the chain says it spent
    assert queue_allocate() == 0

    stake(devnet, other, 100_000)  # the other pool gets energy: the queue moves there
    assert queue_allocate() == 3
    assert placed(burst[2:]) == [("reserved", other.pk)] * 3
    drive_all(devnet, burst)
    client = chain_client()
    for withdrawal in burst:
        withdrawal.refresh_from_db()
        assert withdrawal.status == "confirmed"
        assert client.usdt_balance(withdrawal.to_address) == 1 * TRX  # 1 USDT arrived
        # Pooled energy paid for all of it (the log counts energy from stake); TRX burned
        # at most for bandwidth past an account's free daily allowance, never for energy.
        assert withdrawal.energy_used == COLD
        assert withdrawal.trx_burned_sun <= USDT_TRANSFER_BANDWIDTH * BANDWIDTH_FEE_SUN
        log = EnergyUsageLog.objects.get(withdrawal=withdrawal)
        assert (log.pool_id, log.energy_used) == (
            drained.pk if withdrawal in burst[:2] else other.pk,
            COLD,
        )
    assert client.usdt_balance(other.address) == (10_000 - 3) * TRX
    assert client.usdt_balance(drained.address) == (10_000 - 2) * TRX
    assert Reservation.objects.filter(pool=other, state="posted").count() == 3
    assert_ledger_whole()
    for pool in (drained, other):
        pool.refresh_from_db()
        assert pool.reserved_energy == 0
