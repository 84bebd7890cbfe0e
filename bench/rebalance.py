"""Benchmark `rebalance_pools`' planning over 1,000 pools, beside a plain read of the same pools.

Creates N custodial energy pools (keys held) over 50 partners in a dedicated PostgreSQL
database (`<DATABASE_URL name>_bench`, migrated here): a spread of usage, a current 7-day
forecast per pool (some heavy enough to run dry within the horizon, most light), queued
withdrawals for some partners and a few loans already out. Then, interleaved in the same
run (so a loaded machine's drift hits both alike), best of five:

- baseline: a plain read of the same N pools (`list(EnergyPool.objects.filter(...))`: every
  column, model instances, the ORM as a selector reads them);
- value: `rebalance_plan` — partners, hourly limits, pools, depletion estimates (the queue's
  pro-rata share), surplus from the forecasts, open loans, fair share and the moves — for
  every partner. The chain's two inputs (the energy/TRX ratio and the head block) are given,
  as the job reads them once per run whatever N.

Prints one JSON line (times in seconds; ratio = baseline / value, target ≥ 0.2: planning costs
at most five plain reads):

    {"bench": "rebalance", "value": ..., "baseline": ..., "ratio": ..., "target": 0.2,
     "pools": N, "moves": ..., "returns": ..., "queries": ...}

Usage: `python bench/rebalance.py [--pools 1000]` (DATABASE_URL must point at PostgreSQL;
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
sys.path.insert(0, str(ROOT / "bench"))

from sync import bench_database_url  # noqa: E402  (as bench/forecast.py does)

PARTNERS = 50
RATIO = "15.5"  # energy per staked TRX, about mainnet's


def random_address() -> str:
    return base58.b58encode_check(b"\x41" + secrets.token_bytes(20)).decode()


def seed(pools: int) -> None:
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from partners.models import Customer, Partner
    from pools.models import EnergyPool, EnergyShare, SigningKey
    from predictions.models import EnergyPrediction
    from predictions.selectors import hour_floor
    from withdrawals.models import QueueEntry, Withdrawal

    rng = random.Random(11)
    now = timezone.now()
    partners = [
        Partner.objects.create(slug=f"bench-rebalance-{n}", name=f"Bench rebalance {n}")
        for n in range(PARTNERS)
    ]
    rows = []
    for n in range(pools):
        limit = rng.randint(200_000, 5_000_000)
        rows.append(
            EnergyPool(
                partner=partners[n % PARTNERS],
                address=random_address(),
                custody=EnergyPool.Custody.CUSTODIAL,
                energy_limit=limit,
                energy_used=int(limit * rng.uniform(0, 0.9)),
                staked_trx_sun=int(limit / float(RATIO)) * 1_000_000,
                share_priority=rng.choice([1, 1, 2, 5]),
                last_synced_at=now,
            )
        )
    created = EnergyPool.objects.bulk_create(rows, batch_size=2000)
    # Keys held (the bench never signs: a placeholder ciphertext marks the pool custodial).
    SigningKey.objects.bulk_create(
        [SigningKey(address=p.address, ciphertext="bench") for p in created], batch_size=2000
    )
    made_at = hour_floor(now)
    predictions = []
    for n, pool in enumerate(created):
        heavy = n % 7 == 0
        per_hour = pool.energy_limit // (3 if heavy else 40)
        upper = [int(per_hour * rng.uniform(0.8, 1.2)) for _ in range(168)]
        predictions.append(
            EnergyPrediction(
                pool=pool,
                made_at=made_at,
                horizon_hours=168,
                target_at=made_at + timedelta(hours=168),
                predicted_energy=sum(upper) * 3 // 4,
                lower_energy=sum(upper) // 2,
                upper_energy=sum(upper),
                model="bench",
                series={
                    "mean": [v * 3 // 4 for v in upper],
                    "lower": [v // 2 for v in upper],
                    "upper": upper,
                },
            )
        )
    EnergyPrediction.objects.bulk_create(predictions, batch_size=500)
    user_model = get_user_model()
    queued_partners = partners[::5]
    customers = {
        p.pk: Customer.objects.create(
            partner=p,
            user=user_model.objects.create(username=f"bench-rebalance-{p.pk}"),
            external_ref="bench",
        )
        for p in queued_partners
    }
    withdrawals = Withdrawal.objects.bulk_create(
        [
            Withdrawal(
                customer=customers[p.pk],
                partner_id=p.pk,
                to_address=random_address(),
                amount=1,
                status=Withdrawal.Status.QUEUED,
            )
            for p in queued_partners
            for _ in range(5)
        ]
    )
    QueueEntry.objects.bulk_create(
        [
            QueueEntry(
                withdrawal=w, partner_id=w.partner_id, energy_needed=130_285, enqueued_at=now
            )
            for w in withdrawals
        ]
    )
    by_partner: dict[int, list[EnergyPool]] = {}
    for pool in created:
        by_partner.setdefault(pool.partner_id, []).append(pool)
    EnergyShare.objects.bulk_create(
        [
            EnergyShare(
                partner_id=partner_id,
                donor=group[0],
                receiver=group[1],
                amount_sun=10_000 * 1_000_000,
                energy=155_000,
                state=EnergyShare.State.ACTIVE,
                reason="bench",
                delegated_block=1,
            )
            for partner_id, group in list(by_partner.items())[::3]
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pools", type=int, default=1_000)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_platform.settings")
    import django

    django.setup()
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import connection, reset_queries

    call_command("migrate", verbosity=0)
    from pools.models import EnergyPool
    from predictions.services.rebalance import rebalance_plan

    seed(args.pools)
    ratio = Decimal(RATIO)

    def plain_read() -> float:
        started = time.perf_counter()
        pools = list(
            EnergyPool.objects.filter(
                role=EnergyPool.Role.ENERGY,
                status__in=[EnergyPool.Status.ACTIVE, EnergyPool.Status.DRAINING],
            )
        )
        elapsed = time.perf_counter() - started
        assert len(pools) == args.pools
        return elapsed

    rebalance_plan(energy_per_trx=ratio, head_block=10_000)  # warm the ORM's caches
    baselines, values = [], []
    plan = None
    queries = 0
    for _ in range(5):
        baselines.append(plain_read())
        reset_queries()
        started = time.perf_counter()
        plan = rebalance_plan(energy_per_trx=ratio, head_block=10_000)
        values.append(time.perf_counter() - started)
        queries = len(connection.queries)
    assert plan is not None
    value, baseline = min(values), min(baselines)
    print(
        json.dumps(
            {
                "bench": "rebalance",
                "value": round(value, 4),
                "baseline": round(baseline, 4),
                "ratio": round(baseline / value, 3),
                "target": 0.2,
                "pools": args.pools,
                "moves": len(plan.moves),
                "returns": len(plan.returns),
                "queries": queries,
            }
        )
    )


if __name__ == "__main__":
    main()
