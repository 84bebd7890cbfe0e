"""Benchmark the hourly forecast (predictions/forecasting.py) against seasonal-naive.

Generates its own hourly energy usage (seeded): N pools over 10 weeks, each with a daily and
weekly rhythm in its own time zone, growth or decline, a level shift in most, rare spikes, a
holiday dip (one day of week 9, all pools), Poisson noise on transfer counts (64,285 or
130,285 energy each) and, in some, a few hours of zeros (a sync gap). From each daily origin
over weeks 9-10 it forecasts with the history known then (weeks 1-8 and what followed) and
scores:

- 24 h: MAE per hour over the next 24 h; baseline: seasonal-naive, the same hour last week;
  coverage of the 80 % interval per hour;
- 7 d totals (origins whose week ends inside the data): MAE of the 7-day total; baseline: last
  week's total; coverage of the total's 80 % interval.

Beside each coverage, `coverage_80_holiday` and `coverage_80_other` split it between the
forecasts whose window holds the holiday (24 h: the holiday itself; 7 d: the 3 windows over
it) and the rest (diagnostics).

`fit_seconds_1000_pools` times `forecast_hourly` (horizon 168, the job's call) for 1,000 pools
of eight weeks, one process.

    {"bench": "forecast", "horizon": "24h", "value": ..., "baseline": ..., "ratio": ...,
     "target": 0.85, "coverage_80": ..., "fit_seconds_1000_pools": ...}

With `--job`, `job_seconds_1000_pools` times `predictions_refresh` itself (queries, fits,
upserts, scoring) on a fresh `<db>_bench` PostgreSQL database (DATABASE_URL) with the same
number of pools and eight weeks of hourly usage logs.

Usage: `python bench/forecast.py [--pools 50] [--fit-pools 1000] [--seed 11] [--job]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from predictions.forecasting import forecast_hourly  # noqa: E402

WEEK = 168
WEEKS = 10
TRAIN_WEEKS = 8
START = datetime(2026, 1, 5, tzinfo=UTC)
HOLIDAY_DAY = TRAIN_WEEKS * 7 + 2  # a Wednesday of week 9


def generate(pools: int, *, seed: int = 11) -> np.ndarray:
    """Hourly energy use, one row per pool (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = WEEKS * WEEK
    t = np.arange(n)
    out = np.zeros((pools, n))
    for p in range(pools):
        rate = float(np.exp(rng.uniform(np.log(0.3), np.log(60))))  # transfers per hour
        tz = int(rng.integers(0, 24))
        peak = (13 + tz) % 24
        amp = rng.uniform(0.3, 0.9)
        hod = t % 24
        daily = 1 + amp * np.cos(2 * np.pi * (hod - peak) / 24)
        daily += 0.25 * amp * np.cos(4 * np.pi * (hod - peak - 3) / 24)
        daily = np.maximum(daily, 0.05)
        weekend = np.where(((t + tz) // 24) % 7 >= 5, rng.uniform(0.4, 0.95), 1.0)
        growth = 1 + rng.uniform(-0.2, 0.5) * t / n
        shift = np.ones(n)
        if rng.random() < 0.6:
            at = int(rng.integers(3 * WEEK, 9 * WEEK + 3 * 24))
            shift[at:] = rng.choice([rng.uniform(0.5, 0.8), rng.uniform(1.3, 1.8)])
        holiday = np.ones(n)
        holiday[HOLIDAY_DAY * 24 : (HOLIDAY_DAY + 1) * 24] = rng.uniform(0.2, 0.5)
        lam = rate * daily * weekend * growth * shift * holiday
        counts = rng.poisson(lam).astype(float)
        spikes = rng.random(n) < 0.004
        counts[spikes] += rng.poisson(lam[spikes] * rng.uniform(3, 10, spikes.sum()) + 3)
        new_holders = rng.binomial(counts.astype(int), 0.15)
        out[p] = counts * 64_285 + new_holders * (130_285 - 64_285)
        if rng.random() < 0.2:
            gap = int(rng.integers(WEEK, TRAIN_WEEKS * WEEK))
            out[p, gap : gap + int(rng.integers(2, 12))] = 0
    return out


def evaluate(data: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    err24, base24, cov24, hol24 = [], [], [], []
    err7, base7, cov7, hol7 = [], [], [], []
    n = data.shape[1]
    for y in data:
        for day in range(TRAIN_WEEKS * 7, WEEKS * 7):
            origin = day * 24
            horizon = WEEK if origin + WEEK <= n else 24
            f = forecast_hourly(y[:origin].tolist(), START, horizon)
            mean, lower, upper = (np.array(v[:24]) for v in (f.mean, f.lower, f.upper))
            actual = y[origin : origin + 24]
            err24.append(np.abs(mean - actual).mean())
            base24.append(np.abs(y[origin - WEEK : origin - WEEK + 24] - actual).mean())
            cov24.append(((actual >= lower) & (actual <= upper)).mean())
            hol24.append(day == HOLIDAY_DAY)
            if horizon == WEEK:
                total = y[origin : origin + WEEK].sum()
                err7.append(abs(f.total_mean - total))
                base7.append(abs(y[origin - WEEK : origin].sum() - total))
                cov7.append(float(f.total_lower <= total <= f.total_upper))
                hol7.append(day <= HOLIDAY_DAY < day + 7)

    def summary(
        err: list[float], base: list[float], cov: list[float], holiday: list[bool]
    ) -> dict[str, float]:
        value, baseline = float(np.mean(err)), float(np.mean(base))
        covered, inside = np.asarray(cov), np.asarray(holiday)
        return {
            "value": round(value),
            "baseline": round(baseline),
            "ratio": round(value / baseline, 3),
            "target": 0.85,
            "coverage_80": round(float(covered.mean()), 3),
            # Diagnostics: the coverage of the forecasts whose window holds the holiday and
            # of the others.
            "coverage_80_holiday": round(float(covered[inside].mean()), 3),
            "coverage_80_other": round(float(covered[~inside].mean()), 3),
        }

    return summary(err24, base24, cov24, hol24), summary(err7, base7, cov7, hol7)


def fit_seconds(pools: int) -> float:
    data = generate(pools, seed=5)
    histories = [row[: TRAIN_WEEKS * WEEK].tolist() for row in data]
    started = time.perf_counter()
    for history in histories:
        forecast_hourly(history, START, WEEK)
    return time.perf_counter() - started


def job_seconds(pools: int) -> float:
    """`predictions_refresh` (the job's work) on a fresh `<db>_bench` database holding
    `pools` pools with eight weeks of hourly usage logs (written with COPY)."""
    import os

    sys.path.insert(0, str(ROOT / "bench"))
    from sync import bench_database_url

    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_platform.settings")
    import django

    django.setup()
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from partners.models import Partner
    from pools.models import EnergyPool
    from predictions.services import predictions_refresh

    call_command("migrate", verbosity=0)
    partner = Partner.objects.create(name="bench", slug="bench")
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    first = now - timedelta(hours=TRAIN_WEEKS * WEEK)
    created = EnergyPool.objects.bulk_create(
        EnergyPool(partner=partner, address=f"T{i:033d}", energy_limit=10**9) for i in range(pools)
    )
    EnergyPool.objects.update(created_at=first)
    data = generate(pools, seed=7)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(
            "COPY pools_energyusagelog (pool_id, kind, energy_used, trx_burned_sun, "
            "bandwidth_used, at) FROM STDIN"
        ) as copy:
            for pool, row in zip(created, data, strict=True):
                for hour in range(TRAIN_WEEKS * WEEK):
                    if row[hour] > 0:
                        at = first + timedelta(hours=hour, minutes=30)
                        copy.write_row((pool.pk, "withdrawal", int(row[hour]), 0, 0, at))
    started = time.perf_counter()
    predictions_refresh(now=now)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pools", type=int, default=50)
    parser.add_argument("--fit-pools", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11, help="seed of the evaluated data")
    parser.add_argument(
        "--job", action="store_true", help="also time refresh_predictions on PostgreSQL"
    )
    args = parser.parse_args()
    day, week = evaluate(generate(args.pools, seed=args.seed))
    seconds = round(fit_seconds(args.fit_pools), 1)
    job = round(job_seconds(args.fit_pools), 1) if args.job else None
    for horizon, figures in (("24h", day), ("7d_total", week)):
        line: dict[str, object] = {"bench": "forecast", "horizon": horizon, **figures}
        line["fit_seconds_1000_pools"] = seconds
        if job is not None:
            line["job_seconds_1000_pools"] = job
        print(json.dumps(line))


if __name__ == "__main__":
    main()
