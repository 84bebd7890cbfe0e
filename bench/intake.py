"""Benchmark withdrawal intake over HTTP beside a minimal DRF endpoint on the same server.

Starts the devnet and the platform (daphne, one process, production settings with DEBUG
off, as the Procfile's web process) on free ports against a fresh
`<db>_bench` PostgreSQL database, with one partner, a custodial pool with energy and USDT,
a customer with a large balance and an API key. Then, with the same client and concurrency:

- baseline: `GET /api/v1/partners/me/`, the cheapest authenticated call (the key looked up
  and throttled, the partner serialized): a withdrawal request may cost at most twice it;
- value: `POST /api/v1/withdrawals` with an API key and an Idempotency-Key: the key looked
  up, the body validated, the energy estimated by the node, funds held and energy reserved
  in one transaction;
- for reference: `GET /health/live`, a minimal DRF view (no authentication, no database).

    {"bench": "intake", "value": ..., "baseline": ..., "ratio": ..., "target": 0.5,
     "live": ..., "live_ratio": ..., "authenticated_read_live_ratio": ...}

Usage: `python bench/intake.py [--seconds 15] [--concurrency 16]` (15 s per endpoint: this
shared machine's load swings the 5 s figures by ±0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sync import bench_database_url, free_port, start_devnet  # noqa: E402


async def hammer(url: str, seconds: float, concurrency: int, make_request) -> float:  # type: ignore[no-untyped-def]
    """Requests per second that got a 2xx answer."""
    done = 0
    stop = time.monotonic() + seconds
    # As a TLS-terminating proxy would forward it (production redirects plain HTTP).
    async with aiohttp.ClientSession(headers={"X-Forwarded-Proto": "https"}) as http:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                method, path, kwargs = make_request()
                async with http.request(method, url + path, **kwargs) as response:
                    await response.read()
                    if response.status < 300:
                        done += 1
                    else:
                        raise RuntimeError(f"{path}: HTTP {response.status}")

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    database_url = bench_database_url()
    devnet, devnet_url = start_devnet()
    from cryptography.fernet import Fernet

    # Production settings (DEBUG off), as a deployment runs them, behind a TLS proxy.
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TRON_NODE_URLS": devnet_url,
        "DEBUG": "0",
        "SECRET_KEY": Fernet.generate_key().decode(),
        "KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1",
        # As the Procfile's web process: a psycopg pool instead of a connection per request.
        "DB_POOL_MAX_SIZE": "16",
        "DJANGO_SETTINGS_MODULE": "energy_platform.settings",
        "API_RATE_LIMIT": "1000000/min",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from decimal import Decimal

    from tronpy.keys import PrivateKey

    from partners.models import Partner
    from partners.services import api_key_create, customer_create
    from pools.models import EnergyPool
    from pools.services.keys import signing_key_import
    from withdrawals.models import Currency
    from withdrawals.services.balances import balance_credit

    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    httpx.post(f"{devnet_url}/devnet/fund", json={"address": address, "trx": 1000})
    httpx.post(f"{devnet_url}/devnet/usdt/mint", json={"address": address, "amount": 10**6})
    partner = Partner.objects.create(slug="bench-intake", name="Bench (intake)")
    signing_key_import(private_key_hex=key.hex())
    EnergyPool.objects.create(
        partner=partner, address=address, custody="custodial", energy_limit=10**15
    )
    customer = customer_create(partner=partner, external_ref="bench", username="bench-intake")
    balance_credit(
        customer=customer, currency=Currency.USDT, amount=Decimal(10**9), idempotency_key="bench"
    )
    raw_key = api_key_create(partner=partner, name="bench").raw_key
    recipient = PrivateKey.random().public_key.to_base58check_address()

    port = free_port()
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "energy_platform.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)

        def live():  # type: ignore[no-untyped-def]
            return "GET", "/health/live", {}

        def intake():  # type: ignore[no-untyped-def]
            return (
                "POST",
                "/api/v1/withdrawals",
                {
                    "json": {"customer_id": customer.pk, "to_address": recipient, "amount": "1"},
                    "headers": {
                        "Authorization": f"Api-Key {raw_key}",
                        "Idempotency-Key": uuid.uuid4().hex,
                    },
                },
            )

        def me():  # type: ignore[no-untyped-def]
            return (
                "GET",
                "/api/v1/partners/me/",
                {"headers": {"Authorization": f"Api-Key {raw_key}"}},
            )

        asyncio.run(hammer(url, 1, 4, live))  # warm-up
        baseline = asyncio.run(hammer(url, args.seconds, args.concurrency, live))
        value = asyncio.run(hammer(url, args.seconds, args.concurrency, intake))
        authenticated = asyncio.run(hammer(url, args.seconds, args.concurrency, me))
        print(
            json.dumps(
                {
                    "bench": "intake",
                    "value": round(value, 1),
                    # The target (docs/decisions.md): intake at least half the cheapest
                    # authenticated call's rate, on the same server in the same run.
                    "baseline": round(authenticated, 1),
                    "ratio": round(value / authenticated, 3),
                    "target": 0.5,
                    "live": round(baseline, 1),
                    "live_ratio": round(value / baseline, 3),
                    "authenticated_read_live_ratio": round(authenticated / baseline, 3),
                    "concurrency": args.concurrency,
                }
            )
        )
    finally:
        web.terminate()
        devnet.terminate()
        web.wait(10)
        devnet.wait(10)


if __name__ == "__main__":
    main()
