"""Benchmark reservation allocation on one hot pool with 8 concurrent clients (PostgreSQL).

In the same run, on the same database and pool row:

- baseline: the raw single-statement conditional UPDATE on one row
  (`UPDATE … SET reserved_energy = reserved_energy + n WHERE … available >= n`), autocommit,
  8 clients: one allocation per statement and commit;
- value: `reservations_allocate` with batches of queued withdrawals, 8 clients: every
  allocation writes its Reservation row as well.

Afterwards the ledger is audited: `over_reserved` counts pools whose reserved energy exceeds
what the limit allows or disagrees with their pending reservations (must be 0).

    {"bench": "allocate", "value": ..., "baseline": ..., "ratio": ..., "target": 5,
     "over_reserved": 0}

Usage: `python bench/allocate.py [--clients 8] [--seconds 3] [--batch 200]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sync import bench_database_url  # noqa: E402

ENERGY = 64_285


def run_clients(clients: int, seconds: float, work) -> int:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(clients)
    counts = [0] * clients
    stop = time.monotonic() + seconds + 0.5

    def client(index: int) -> None:
        barrier.wait()
        while time.monotonic() < stop:
            counts[index] += work(index)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return int(sum(counts) / elapsed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_platform.settings")
    import django

    django.setup()
    import psycopg
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from partners.models import Partner
    from partners.services import customer_create
    from pools.models import EnergyPool
    from pools.selectors import ledger_audit
    from pools.services.ledger import reservations_allocate
    from withdrawals.models import Withdrawal

    partner = Partner.objects.create(slug="bench-allocate", name="Bench (allocate)")
    customer = customer_create(partner=partner, external_ref="bench", username="bench-user")
    pool = EnergyPool.objects.create(
        partner=partner, address="TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7", energy_limit=10**15
    )
    Withdrawal.objects.bulk_create(
        [
            Withdrawal(partner=partner, customer=customer, to_address=pool.address, amount=1)
            for _ in range(args.clients * args.batch * 400)
        ],
        batch_size=5000,
    )
    ids = list(Withdrawal.objects.filter(partner=partner).values_list("pk", flat=True))
    connection.close()

    # Baseline: the raw conditional UPDATE, one allocation per statement.
    dsn = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    raw_sql = (
        "UPDATE pools_energypool SET reserved_energy = reserved_energy + %s "
        "WHERE id = %s AND reserved_energy <= energy_limit - energy_used - %s"
    )
    raw_connections = [psycopg.connect(dsn, autocommit=True) for _ in range(args.clients)]

    def raw(index: int) -> int:
        return raw_connections[index].execute(raw_sql, (ENERGY, pool.pk, ENERGY)).rowcount

    baseline = run_clients(args.clients, args.seconds, raw)
    for conn in raw_connections:
        conn.close()
    EnergyPool.objects.filter(pk=pool.pk).update(reserved_energy=0)
    connection.close()

    # Value: batched allocation, each client through its own Django connection.
    cursors = [iter(range(i, len(ids), args.clients)) for i in range(args.clients)]

    def allocate(index: int) -> int:
        batch = [(ids[next(cursors[index])], ENERGY) for _ in range(args.batch)]
        return len(reservations_allocate(pool_id=pool.pk, requests=batch, ttl=timedelta(minutes=5)))

    def allocate_and_close(index: int) -> int:
        try:
            return allocate(index)
        except StopIteration:
            return 0

    value = run_clients(args.clients, args.seconds, allocate_and_close)
    connection.close()
    pool.refresh_from_db()
    over = len(ledger_audit()) + int(pool.reserved_energy > pool.energy_limit - pool.energy_used)
    print(
        json.dumps(
            {
                "bench": "allocate",
                "value": value,
                "baseline": baseline,
                "ratio": round(value / baseline, 2),
                "target": 5,
                "over_reserved": over,
                "batch": args.batch,
                "clients": args.clients,
            }
        )
    )


if __name__ == "__main__":
    main()
