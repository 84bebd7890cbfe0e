"""Benchmark `check_alerts` over 10,000 pools, beside a raw psycopg read of the same rows.

Creates N pools in a dedicated PostgreSQL database (`<DATABASE_URL name>_bench`, migrated
here) with a spread of usage ratios, recent usage logs, queued withdrawals and emergency
wallets, lets one run open their alerts, then measures in the same run:

- baseline: the pool rows the rules read (pool and partner columns) fetched by a bare
  psycopg cursor, nothing else;
- value: `alerts_check(check_node=False)` in steady state: every rule over every pool and
  the open alerts compared (the node check is one HTTP call, whatever N).

Prints one JSON line, figures in pools per second:

    {"bench": "alerts", "value": ..., "baseline": ..., "ratio": ..., "target": 0.25,
     "pools": N, "open_alerts": ..., "queries": ...}

Usage: `python bench/alerts.py [--pools 10000]` (DATABASE_URL must point at PostgreSQL;
`make bench` sets it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
import time
from pathlib import Path

import base58

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sync import bench_database_url  # noqa: E402

RAW_SQL = """
SELECT p.id, p.partner_id, p.address, p.role, p.status, p.energy_limit, p.energy_used,
       p.reserved_energy, p.trx_balance_sun, p.last_synced_at, p.last_sync_error, p.created_at,
       p.warning_threshold, p.critical_threshold, p.emergency_threshold,
       r.warning_threshold, r.critical_threshold, r.emergency_threshold,
       r.depletion_alert_hours, r.queue_backlog_minutes, r.queue_backlog_max
FROM pools_energypool p JOIN partners_partner r ON r.id = p.partner_id
WHERE p.status <> 'archived'
"""


def random_address() -> str:
    return base58.b58encode_check(b"\x41" + secrets.token_bytes(20)).decode()


def seed(pools: int) -> None:
    from django.utils import timezone

    from partners.models import Customer, Partner
    from pools.models import EnergyPool, EnergyUsageLog
    from withdrawals.models import QueueEntry, Withdrawal

    rng = random.Random(7)
    now = timezone.now()
    partners = [
        Partner.objects.create(slug=f"bench-alerts-{n}", name=f"Bench alerts {n}")
        for n in range(20)
    ]
    rows = []
    for n in range(pools):
        limit = rng.randint(100_000, 5_000_000)
        emergency = n % 50 == 0
        rows.append(
            EnergyPool(
                partner=partners[n % len(partners)],
                address=random_address(),
                role=EnergyPool.Role.EMERGENCY if emergency else EnergyPool.Role.ENERGY,
                energy_limit=0 if emergency else limit,
                energy_used=0 if emergency else int(limit * rng.uniform(0, 1.0)),
                trx_balance_sun=rng.randint(0, 100) * 1_000_000,
                last_synced_at=now,
            )
        )
    created = EnergyPool.objects.bulk_create(rows, batch_size=2000)
    EnergyUsageLog.objects.bulk_create(
        [
            EnergyUsageLog(
                pool=pool,
                kind=EnergyUsageLog.Kind.WITHDRAWAL if n % 7 else EnergyUsageLog.Kind.EXTERNAL,
                energy_used=64_285,
                at=now,
            )
            for n, pool in enumerate(created)
            if n % 3 == 0
        ],
        batch_size=2000,
    )
    from django.contrib.auth import get_user_model

    User = get_user_model()
    customers = {
        p.pk: Customer.objects.create(
            partner=p,
            user=User.objects.create(username=f"bench-alerts-{p.pk}"),
            external_ref="bench",
        )
        for p in partners
    }
    queued = [pool for n, pool in enumerate(created) if n % 10 == 1]
    withdrawals = Withdrawal.objects.bulk_create(
        [
            Withdrawal(
                customer=customers[pool.partner_id],
                partner_id=pool.partner_id,
                pool=pool,
                to_address=random_address(),
                amount=1,
                status=Withdrawal.Status.QUEUED,
            )
            for pool in queued
        ],
        batch_size=2000,
    )
    QueueEntry.objects.bulk_create(
        [
            QueueEntry(withdrawal=w, pool=pool, energy_needed=64_285, enqueued_at=now)
            for w, pool in zip(withdrawals, queued, strict=True)
        ],
        batch_size=2000,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pools", type=int, default=10_000)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_platform.settings")
    import django

    django.setup()
    import psycopg
    from django.core.management import call_command
    from django.db import connection, reset_queries

    call_command("migrate", verbosity=0)
    from alerts.models import EnergyAlert
    from alerts.services.rules import alerts_check

    seed(args.pools)
    alerts_check(check_node=False)  # opens what the seed warrants (transitions)

    def raw_read() -> float:
        with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
            started = time.perf_counter()
            rows = conn.execute(RAW_SQL).fetchall()
            elapsed = time.perf_counter() - started
        assert len(rows) == args.pools
        return float(args.pools / elapsed)

    baselines, values = [], []
    queries = 0
    for _ in range(3):  # interleaved, so drift on a shared machine hits both alike
        baselines.append(raw_read())
        reset_queries()
        started = time.perf_counter()
        alerts_check(check_node=False)
        values.append(args.pools / (time.perf_counter() - started))
        queries = len(connection.queries)
    value, baseline = max(values), max(baselines)
    print(
        json.dumps(
            {
                "bench": "alerts",
                "value": round(value, 1),
                "baseline": round(baseline, 1),
                "ratio": round(value / baseline, 3),
                "target": 0.25,
                "pools": args.pools,
                "open_alerts": EnergyAlert.objects.filter(resolved_at__isnull=True).count(),
                "queries": queries,
            }
        )
    )


if __name__ == "__main__":
    main()
