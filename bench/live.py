"""Benchmark live hints: commit → WebSocket message latency with 500 sockets on daphne.

Starts the platform (daphne, one process, production settings with DEBUG off, as the
Procfile's web process) against a fresh `<db>_bench` PostgreSQL database, with `--partners`
partners of one pool each and `--clients` partner staff spread over them, each holding an
authenticated `/ws/live/` socket (session cookie; the consumer re-checks the membership for
every message it forwards). Then, from this process:

- value: `--commits` real status changes (`pools.services.onboarding.pool_set_status`,
  active ↔ paused) on the partners' pools in turn, every `--interval` seconds; the latency
  of each is from the moment its transaction committed to the moment each of that partner's
  sockets received the `pools.changed` hint. Each partner's turn comes round less often than
  the coalescing window (1 s), so every hint leaves at once and the figure is the pipeline's,
  not the window's;
- baseline, in the same run: a bare channel-layer `group_send` → `receive` on groups of the
  same size as a partner's (no Django, no daphne, no consumer).

    {"bench": "live", "value": <p95 ms>, "baseline": <baseline p95 ms>, "ratio": ...,
     "target_p95_ms": 250, "p50_ms": ..., "p99_ms": ..., "baseline_p50_ms": ...,
     "baseline_p99_ms": ..., "clients": 500, "received": ..., "expected": ...,
     "web_peak_rss_mb": ...}

Usage: `python bench/live.py [--clients 500] [--partners 50] [--commits 200] [--interval 0.05]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sync import bench_database_url, free_port, random_address  # noqa: E402

TARGET_P95_MS = 250
DAPHNE = [sys.executable, "-m", "daphne", "-b", "127.0.0.1"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def seed(partners: int, clients: int) -> tuple[list[int], list[tuple[int, str]]]:
    """Pools (one per partner) and (partner index, session key) per client."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    from partners.models import Membership, Partner, Role
    from pools.models import EnergyPool

    rows = Partner.objects.bulk_create(
        Partner(slug=f"bench-live-{n}", name=f"Bench live {n}") for n in range(partners)
    )
    pools = EnergyPool.objects.bulk_create(
        EnergyPool(partner=p, address=random_address(), energy_limit=10**7) for p in rows
    )
    sessions = []
    for n in range(clients):
        user = User(username=f"live-{n}")
        user.set_unusable_password()
        user.save()
        Membership.objects.create(user=user, partner=rows[n % partners], role=Role.VIEWER)
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions.append((n % partners, str(store.session_key)))
    return [p.pk for p in pools], sessions


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def baseline(groups: int, per_group: int, sends: int, interval: float) -> list[float]:
    """group_send → receive latency on the bare Redis channel layer, in milliseconds."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    members: list[list[str]] = []
    for g in range(groups):
        channels = [await layer.new_channel() for _ in range(per_group)]
        for channel in channels:
            await layer.group_add(f"bench-baseline.{g}", channel)
        members.append(channels)
    latencies: list[float] = []

    async def receive(channel: str, count: int) -> None:
        for _ in range(count):
            message = await layer.receive(channel)
            latencies.append((time.monotonic() - message["sent"]) * 1000)

    sends_per_group = [len(range(g, sends, groups)) for g in range(groups)]
    readers = [
        asyncio.create_task(receive(channel, sends_per_group[g]))
        for g, channels in enumerate(members)
        for channel in channels
    ]
    for n in range(sends):
        await layer.group_send(
            f"bench-baseline.{n % groups}", {"type": "x", "sent": time.monotonic()}
        )
        await asyncio.sleep(interval)
    await asyncio.wait_for(asyncio.gather(*readers), 30)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--partners", type=int, default=50)
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    if args.partners * args.interval <= 1.0:
        raise SystemExit("each partner's turn must come round less often than once a second")

    database_url = bench_database_url()
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": Fernet.generate_key().decode(),
        "KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DB_POOL_MAX_SIZE": "16",
        "DJANGO_SETTINGS_MODULE": "energy_platform.settings",
        "LOG_LEVEL": "WARNING",
        "REDIS_KEY_PREFIX": f"bench-live-{os.getpid()}",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    pool_ids, sessions = seed(args.partners, args.clients)
    connections.close_all()

    port = free_port()
    web = subprocess.Popen(
        [*DAPHNE, "-p", str(port), "energy_platform.asgi:application"],
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
        result = asyncio.run(run(args, url, pool_ids, sessions))
        result["web_peak_rss_mb"] = peak_rss_mb(web.pid)
        print(json.dumps(result))
    finally:
        web.terminate()
        web.wait(10)


async def run(
    args: argparse.Namespace, url: str, pool_ids: list[int], sessions: list[tuple[int, str]]
) -> dict[str, object]:
    from common.events import flush_live_events
    from pools.models import EnergyPool
    from pools.services.onboarding import pool_set_status

    committed: dict[int, float] = {}  # pool id -> when its last change committed
    latencies: list[float] = []
    ws_url = url.replace("http", "ws") + "/ws/live/"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def connect(session_key: str) -> aiohttp.ClientWebSocketResponse:
            socket = await http.ws_connect(
                ws_url, headers={"Cookie": f"sessionid={session_key}", "Origin": url}
            )
            hello = await socket.receive_json(timeout=30)
            assert hello["event"] == "hello", hello
            return socket

        sockets = []
        for start in range(0, len(sessions), 50):  # connect in waves, as pages would
            sockets += await asyncio.gather(
                *(connect(key) for _, key in sessions[start : start + 50])
            )

        async def listen(socket: aiohttp.ClientWebSocketResponse) -> None:
            async for message in socket:
                data = json.loads(message.data)
                if data["event"] != "pools.changed":
                    continue
                now = time.monotonic()
                for pool_id in data["payload"]["pool_ids"]:
                    if pool_id in committed:
                        latencies.append((now - committed[pool_id]) * 1000)

        listeners = [asyncio.create_task(listen(s)) for s in sockets]

        def commit_all() -> None:
            status = dict.fromkeys(pool_ids, EnergyPool.Status.ACTIVE)
            for n in range(args.commits):
                pk = pool_ids[n % len(pool_ids)]
                status[pk] = (
                    EnergyPool.Status.PAUSED
                    if status[pk] == EnergyPool.Status.ACTIVE
                    else EnergyPool.Status.ACTIVE
                )
                pool_set_status(pool=EnergyPool(pk=pk), status=status[pk])
                committed[pk] = time.monotonic()  # the hint is handed over at commit
                time.sleep(args.interval)
            flush_live_events(10)

        await asyncio.to_thread(commit_all)
        await asyncio.sleep(2)
        for socket in sockets:
            await socket.close()
        await asyncio.gather(*listeners, return_exceptions=True)

    per_partner = args.clients // args.partners
    base = await baseline(args.partners, per_partner, args.commits, args.interval)
    p95 = percentile(latencies, 95)
    base_p95 = percentile(base, 95)
    return {
        "bench": "live",
        "value": round(p95, 1),
        "baseline": round(base_p95, 1),
        "ratio": round(p95 / base_p95, 1) if base_p95 else None,
        "target_p95_ms": TARGET_P95_MS,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "baseline_p50_ms": round(percentile(base, 50), 1),
        "baseline_p99_ms": round(percentile(base, 99), 1),
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        "clients": len(sessions),
        "received": len(latencies),
        "expected": sum(
            sum(1 for p, _ in sessions if p == n % args.partners) for n in range(args.commits)
        ),
    }


if __name__ == "__main__":
    main()
