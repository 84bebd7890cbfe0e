"""Benchmark the TRON devnet's account reads against an aiohttp hello-world on the same machine.

Starts ``python -m tron_devnet`` and a minimal aiohttp app in subprocesses on free ports, creates
2,000 accounts, then fires a fixed number of ``POST /wallet/getaccount`` and
``/wallet/getaccountresource`` requests (alternating) with bounded concurrency through one aiohttp
client, time-bounded; the same client measures the hello-world. Finally it loads the devnet up to
100,000 accounts and reads its RSS. Prints one JSON line:

    {"bench": "devnet", "value": reads_per_s, "baseline": hello_per_s, "ratio": ..., "target": 0.5,
     "peak_rss_mb": ..., "rss_100k_accounts_mb": ...}

Usage: ``python bench/devnet.py [--requests 20000] [--concurrency 64] [--accounts 2000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import base58

ROOT = Path(__file__).resolve().parent.parent

HELLO_APP = """
import sys
from aiohttp import web

async def hello(request):
    return web.Response(text="Hello, world")

app = web.Application()
app.router.add_route("*", "/hello", hello)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def random_address() -> str:
    return base58.b58encode_check(b"\x41" + secrets.token_bytes(20)).decode()


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    """Peak (VmHWM) or current (VmRSS) resident set size of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def wait_ready(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def fund(url: str, addresses: list[str], batch: int = 5000) -> None:
    async with aiohttp.ClientSession() as http:
        for i in range(0, len(addresses), batch):
            body = {"addresses": addresses[i : i + batch], "trx": 10}
            async with http.post(f"{url}/devnet/fund", json=body) as resp:
                resp.raise_for_status()
                await resp.read()


async def hammer(
    requests: list[tuple[str, bytes]], concurrency: int, time_limit: float
) -> tuple[int, float]:
    """Send ``requests`` (url, json body) with ``concurrency`` workers; returns (done, seconds)."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Content-Type": "application/json"}
    done = 0
    errors = 0
    index = 0
    started = time.perf_counter()
    deadline = started + time_limit

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal done, errors, index
        while index < len(requests) and time.perf_counter() < deadline:
            url, body = requests[index]
            index += 1
            async with http.post(url, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status == 200:
                    done += 1
                else:
                    errors += 1

    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if errors:
        print(f"warning: {errors} non-200 answers", file=sys.stderr)
    return done, elapsed


async def run(args: argparse.Namespace) -> dict[str, Any]:
    devnet_port, hello_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    devnet = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tron_devnet",
            "--port",
            str(devnet_port),
            "--block-interval-mode",
            "manual",
            "--solidity-lag",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    hello = subprocess.Popen([sys.executable, "-c", HELLO_APP, str(hello_port)], env=env)
    try:
        devnet_url = f"http://127.0.0.1:{devnet_port}"
        hello_url = f"http://127.0.0.1:{hello_port}"
        await wait_ready(f"{devnet_url}/devnet/state")
        await wait_ready(f"{hello_url}/hello")
        accounts = [random_address() for _ in range(args.accounts)]
        await fund(devnet_url, accounts)

        reads: list[tuple[str, bytes]] = []
        for i in range(args.requests):
            path = "getaccount" if i % 2 == 0 else "getaccountresource"
            body = json.dumps({"address": accounts[i % len(accounts)], "visible": True}).encode()
            reads.append((f"{devnet_url}/wallet/{path}", body))
        hellos = [(f"{hello_url}/hello", b"{}") for _ in range(args.requests)]

        # warm-up both servers, then measure: hello, devnet, hello again (take the best of each)
        await hammer(reads[:1000], args.concurrency, 10)
        await hammer(hellos[:1000], args.concurrency, 10)
        hello_rates, read_rates = [], []
        for _ in range(2):
            done, secs = await hammer(hellos, args.concurrency, args.time_limit)
            hello_rates.append(done / secs)
            done, secs = await hammer(reads, args.concurrency, args.time_limit)
            read_rates.append(done / secs)
        peak_rss = rss_mb(devnet.pid)

        # memory with 100,000 accounts (the remaining ones added through the bulk fund API)
        await fund(devnet_url, [random_address() for _ in range(100_000 - args.accounts)])
        rss_100k = rss_mb(devnet.pid, "VmRSS")
        value = max(read_rates)
        baseline = max(hello_rates)
        return {
            "bench": "devnet",
            "value": round(value, 1),
            "baseline": round(baseline, 1),
            "ratio": round(value / baseline, 3),
            "target": 0.5,
            "peak_rss_mb": peak_rss,
            "rss_100k_accounts_mb": rss_100k,
            "requests": args.requests,
            "concurrency": args.concurrency,
            "accounts": args.accounts,
        }
    finally:
        for proc in (devnet, hello):
            proc.terminate()
        for proc in (devnet, hello):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--accounts", type=int, default=2_000)
    p.add_argument("--time-limit", type=float, default=30.0, help="seconds per measurement")
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
