"""Benchmark chain sync of 10,000 pools against the devnet, beside raw async reads.

Starts `python -m tron_devnet` on a free port, funds N accounts, creates N pools in a
dedicated PostgreSQL database (`<DATABASE_URL name>_bench`, migrated here), then measures
in the same run:

- baseline: the same reads (`getaccount` + `getaccountresource` per pool) made by a plain
  httpx async client with the same concurrency, nothing else;
- value: `pools_sync()`, the platform's sync: reads through the chain client, one bulk
  write, snapshots and usage checks per batch.

Prints one JSON line, figures in pools per second:

    {"bench": "sync", "value": ..., "baseline": ..., "ratio": ..., "target": 0.5,
     "peak_rss_mb": ..., "pools": N}

Usage: `python bench/sync.py [--pools 10000] [--concurrency 64]` (DATABASE_URL must point at
PostgreSQL; `make bench` sets it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import base58
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def random_address() -> str:
    return base58.b58encode_check(b"\x41" + secrets.token_bytes(20)).decode()


def bench_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("bench/sync.py needs DATABASE_URL pointing at PostgreSQL")
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "energy_platform"
    bench = parts._replace(path=f"/{name}_bench")
    import psycopg

    admin = parts._replace(path="/postgres")
    # A fresh database every run: no bench sees another's rows or a previous run's.
    with psycopg.connect(urlunsplit(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}_bench" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}_bench"')
    return urlunsplit(bench)


def start_devnet() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    devnet = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tron_devnet",
            "--port",
            str(port),
            "--block-interval-mode",
            "manual",
            "--solidity-lag",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/devnet/state", timeout=1).raise_for_status()
            return devnet, url
        except httpx.HTTPError:
            time.sleep(0.1)
    devnet.kill()
    raise SystemExit("the devnet did not start")


async def raw_reads(url: str, addresses: list[str], concurrency: int) -> float:
    """Pools per second for the bare reads with aiohttp, the fastest plain client: the
    baseline."""
    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as http:

        async def read(address: str) -> None:
            body = {"address": address, "visible": True}
            async with semaphore:
                for path in ("/wallet/getaccount", "/wallet/getaccountresource"):
                    async with http.post(path, json=body) as response:
                        await response.json()

        started = time.perf_counter()
        await asyncio.gather(*(read(a) for a in addresses))
        return len(addresses) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pools", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_platform.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from partners.models import Partner
    from pools.models import EnergyPool
    from pools.services.sync import pools_sync

    devnet, url = start_devnet()
    try:
        addresses = [random_address() for _ in range(args.pools)]
        for start in range(0, len(addresses), 5000):
            httpx.post(
                f"{url}/devnet/fund",
                json={"addresses": addresses[start : start + 5000], "trx": 10},
                timeout=60,
            ).raise_for_status()
        partner = Partner.objects.create(slug="bench-sync", name="Bench (sync)")
        EnergyPool.objects.bulk_create(
            [EnergyPool(partner=partner, address=a) for a in addresses], batch_size=2000
        )
        settings.TRON_NODE_URLS = [url]
        settings.POOL_SYNC_CONCURRENCY = args.concurrency

        baselines, values = [], []
        for _ in range(2):  # interleaved, so drift on a shared machine hits both alike
            baselines.append(asyncio.run(raw_reads(url, addresses, args.concurrency)))
            started = time.perf_counter()
            report = pools_sync()
            values.append(report.synced / (time.perf_counter() - started))
            assert report.synced == args.pools, report
        value, baseline = max(values), max(baselines)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            json.dumps(
                {
                    "bench": "sync",
                    "value": round(value, 1),
                    "baseline": round(baseline, 1),
                    "ratio": round(value / baseline, 3),
                    "target": 0.5,
                    "peak_rss_mb": round(peak_mb, 1),
                    "pools": args.pools,
                }
            )
        )
    finally:
        devnet.terminate()
        devnet.wait(10)


if __name__ == "__main__":
    main()
