"""Chaos: the platform under load while its processes are killed and its services restarted.

Starts a PostgreSQL cluster and a Redis server of its own (so restarting them touches
nothing else on the machine), the devnet (real-time blocks, state on disk), and the
platform as separate OS processes: one daphne web process, two Celery workers and beat.
Then, at the same time:

- a driver sends withdrawals over the API as a careful client would (retrying with the same
  Idempotency-Key until it gets a definite answer): standard ones, ones that queue when
  the pool runs short, emergency ones (quoted, then paid from the user's TRX balance),
  ones cancelled at once, the same request twice at once, and staking operations;
- a killer SIGKILLs a worker or the web process at random moments (seeded, so a run can be
  repeated) and restarts it, stops the devnet or Redis now and then and brings it back, and
  restarts PostgreSQL once.

When the kills are done it lets the platform settle (advancing the devnet's clock so queued
withdrawals get energy) and audits against the database and the chain:

- lost: a withdrawal the API acknowledged that does not exist, or one confirmed whose USDT
  never arrived;
- doubled: a recipient holding more than it was sent, a withdrawal with two confirmed
  transactions, one key that made two withdrawals, twins answered with different ids;
- leaked: a final withdrawal with a pending reservation or an unresolved hold, a ledger or
  balance breach, a key that made two staking operations;
- stuck_over_10_min: a withdrawal not final ten minutes after it was requested.

    {"bench": "chaos", "kills": ..., "withdrawals": ..., "lost": 0, "doubled": 0,
     "leaked": 0, "stuck_over_10_min": 0, ...}

Exits 1 if any of the four is not zero. Usage:
`python bench/chaos.py [--kills 1000] [--seed 1] [--settle-seconds 600]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sync import free_port  # noqa: E402

TRX = 1_000_000


def _wait(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: S110  # not up yet
            pass
        time.sleep(0.2)
    raise SystemExit(f"chaos: {what} did not come up")


class Postgres:
    """A throw-away PostgreSQL cluster on a free port (fsync off: it is a test)."""

    def __init__(self, workdir: Path) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            raise SystemExit("chaos: no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = bins[-1]
        self.dir = workdir / "pg"
        self.port = free_port()
        self.dir.mkdir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(workdir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _ctl(self, *args: str) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.dir), "-o", options, "-l", str(self.dir / "log"), "-w", *args
        )

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._ctl("stop", "-m", "immediate")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/chaos"


@dataclass
class Proc:
    """A process the killer may SIGKILL; `restart` starts it again with the same command."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    kills: int = 0

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                self.cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@dataclass
class Sent:
    """One logical request of the driver and what the platform answered."""

    kind: str
    key: str
    to: str
    amount: Decimal
    requested_at: float
    ids: set[int] = field(default_factory=set)
    answered: bool = False


class Driver:
    """Sends requests as a careful client: same key until a definite answer (2xx or 4xx)."""

    def __init__(self, url: str, api_key: str, customer_id: int, pool_id: int, seed: int):
        self.url = url
        self.headers = {"Authorization": f"Api-Key {api_key}"}
        self.customer_id = customer_id
        self.pool_id = pool_id
        self.rng = random.Random(seed + 1)
        self.sent: list[Sent] = []
        self.staking_keys: list[str] = []
        self.stop = asyncio.Event()

    async def _post(
        self, http: httpx.AsyncClient, path: str, body: dict[str, Any], key: str | None
    ) -> httpx.Response | None:
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        for _ in range(600):  # ~10 min of a platform that does not answer
            try:
                response = await http.post(self.url + path, json=body, headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(1)
                continue
            if response.status_code in (409, 429) or response.status_code >= 500:
                await asyncio.sleep(1)  # in flight, throttled or unavailable: same key again
                continue
            return response
        return None

    def _recipient(self) -> str:
        from tronpy.keys import PrivateKey

        return str(PrivateKey.random().public_key.to_base58check_address())

    async def _withdraw(self, http: httpx.AsyncClient, kind: str) -> None:
        amount = Decimal(self.rng.choice(["0.5", "1", "1.25", "2"]))
        sent = Sent(kind, f"chaos-{uuid.uuid4().hex}", self._recipient(), amount, time.time())
        self.sent.append(sent)
        body = {"customer_id": self.customer_id, "to_address": sent.to, "amount": str(amount)}
        if kind == "emergency":
            quote = await self._post(
                http, "/api/v1/energy/emergency-withdrawal", {"action": "quote", **body}, sent.key
            )
            if quote is None or quote.status_code >= 300:
                return
            withdrawal_id = quote.json()["withdrawal"]["id"]
            sent.ids.add(withdrawal_id)
            confirm = await self._post(
                http,
                "/api/v1/energy/emergency-withdrawal",
                {"action": "confirm", "withdrawal_id": withdrawal_id, "paid_with": "balance"},
                f"{sent.key}-confirm",
            )
            sent.answered = confirm is not None and confirm.status_code < 300
            return
        twins = 2 if kind == "twin" else 1
        answers = await asyncio.gather(
            *(self._post(http, "/api/v1/withdrawals", body, sent.key) for _ in range(twins))
        )
        for answer in answers:
            if answer is not None and answer.status_code < 300:
                sent.ids.add(answer.json()["id"])
                sent.answered = True
        if kind == "cancel" and sent.ids:
            withdrawal_id = next(iter(sent.ids))
            await self._post(http, f"/api/v1/withdrawals/{withdrawal_id}/cancel", {}, None)

    async def _stake(self, http: httpx.AsyncClient) -> None:
        key = f"chaos-stake-{uuid.uuid4().hex}"
        self.staking_keys.append(key)
        await self._post(
            http,
            f"/api/v1/pools/{self.pool_id}/operations",
            {"kind": "stake", "amount_trx": "1"},
            key,
        )

    async def run(self, limit: int) -> None:
        kinds = ["standard"] * 6 + ["twin", "cancel", "emergency"]
        async with httpx.AsyncClient(timeout=30) as http:
            tasks: set[asyncio.Task[None]] = set()
            while not self.stop.is_set() and len(self.sent) < limit:
                if self.rng.random() < 0.05:
                    task = asyncio.create_task(self._stake(http))
                else:
                    task = asyncio.create_task(self._withdraw(http, self.rng.choice(kinds)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                await asyncio.sleep(self.rng.uniform(0.2, 0.8))
            if tasks:
                await asyncio.gather(*tasks)


class Killer(threading.Thread):
    """SIGKILLs and restarts processes at seeded random moments; outages now and then."""

    def __init__(
        self, *, procs: list[Proc], devnet: Proc, redis: Proc, pg: Postgres, kills: int, seed: int
    ):
        super().__init__(daemon=True)
        self.procs, self.devnet, self.redis, self.pg = procs, devnet, redis, pg
        self.target = kills
        self.rng = random.Random(seed)
        self.done = threading.Event()
        self.kills = 0
        self.outages: dict[str, int] = {"devnet": 0, "redis": 0, "postgres": 0}

    def run(self) -> None:
        while self.kills < self.target:
            time.sleep(self.rng.uniform(0.3, 1.5))
            proc = self.rng.choice(self.procs)
            proc.kill()
            self.kills += 1
            time.sleep(self.rng.uniform(0, 0.5))
            proc.start()
            if self.kills % 25 == 0:
                outage = (
                    self.redis if self.outages["redis"] < self.outages["devnet"] else self.devnet
                )
                outage.kill()
                time.sleep(self.rng.uniform(1, 4))
                outage.start()
                self.outages[outage.name] += 1
            if self.kills == self.target // 2:
                self.pg.restart()
                self.outages["postgres"] += 1
        self.done.set()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--withdrawals", type=int, default=300)
    parser.add_argument("--settle-seconds", type=float, default=600)
    args = parser.parse_args()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    pg = Postgres(work)
    pg.start()
    subprocess.run(
        [
            *pg.as_user,
            str(pg.bin / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(pg.port),
            "-U",
            "postgres",
            "chaos",
        ],
        check=True,
    )
    redis_port, devnet_port, web_port = free_port(), free_port(), free_port()
    from cryptography.fernet import Fernet

    env = {
        **{k: v for k, v in os.environ.items() if k not in ("TESTING", "PYTEST_XDIST_WORKER")},
        "DATABASE_URL": pg.url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "REDIS_KEY_PREFIX": "chaos",
        "TRON_NODE_URLS": f"http://127.0.0.1:{devnet_port}",
        "TRON_NETWORK": "devnet",
        "DEBUG": "1",
        "KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "AXES_ENABLED": "0",
        "API_RATE_LIMIT": "1000000/min",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "energy_platform.settings",
        # A dead transaction is provable sooner than in production (the devnet's blocks are
        # solidified two behind the head).
        "TRON_DEAD_MARGIN_SECONDS": "15",
    }
    logs = work / "logs"
    logs.mkdir()
    py = sys.executable
    redis = Proc(
        "redis",
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        env,
        logs / "redis.log",
    )
    devnet = Proc(
        "devnet",
        [
            py,
            "-m",
            "tron_devnet",
            "--port",
            str(devnet_port),
            "--block-interval-mode",
            "realtime",
            "--solidity-lag",
            "2",
            "--state-file",
            str(work / "devnet.json"),
        ],
        env,
        logs / "devnet.log",
    )
    redis.start()
    devnet.start()
    _wait(
        lambda: httpx.get(f"http://127.0.0.1:{devnet_port}/devnet/state").status_code == 200,
        "devnet",
    )

    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    call_command("setup_periodic_tasks", verbosity=0)
    seeded = _seed(devnet_url=f"http://127.0.0.1:{devnet_port}")
    connections.close_all()

    procs = [
        Proc(
            "web",
            [
                py,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(web_port),
                "energy_platform.asgi:application",
            ],
            env,
            logs / "web.log",
        ),
        Proc(
            "worker1",
            [
                py,
                "-m",
                "celery",
                "-A",
                "energy_platform",
                "worker",
                "--concurrency=1",
                "-n",
                "w1@chaos",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=WARNING",
            ],
            env,
            logs / "worker1.log",
        ),
        Proc(
            "worker2",
            [
                py,
                "-m",
                "celery",
                "-A",
                "energy_platform",
                "worker",
                "--concurrency=1",
                "-n",
                "w2@chaos",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=WARNING",
            ],
            env,
            logs / "worker2.log",
        ),
    ]
    beat = Proc(
        "beat",
        [
            py,
            "-m",
            "celery",
            "-A",
            "energy_platform",
            "beat",
            "--loglevel=WARNING",
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "--pidfile=",
            f"--schedule={work / 'beat'}",
        ],
        env,
        logs / "beat.log",
    )
    for proc in [*procs, beat]:
        proc.start()
    url = f"http://127.0.0.1:{web_port}"
    _wait(lambda: httpx.get(f"{url}/health/live").status_code == 200, "web")

    driver = Driver(url, seeded["api_key"], seeded["customer_id"], seeded["pool_id"], args.seed)
    killer = Killer(
        procs=procs, devnet=devnet, redis=redis, pg=pg, kills=args.kills, seed=args.seed
    )
    regen = threading.Event()

    def regenerate() -> None:  # energy comes back as the devnet's clock moves
        while not regen.wait(5):
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"http://127.0.0.1:{devnet_port}/devnet/advance", json={"seconds": 3600})

    async def drive() -> None:
        loop = asyncio.get_running_loop()
        killer.start()
        driving = asyncio.create_task(driver.run(args.withdrawals))
        await loop.run_in_executor(None, killer.done.wait)
        driver.stop.set()
        await driving

    threading.Thread(target=regenerate, daemon=True).start()
    try:
        asyncio.run(drive())
        report = _settle_and_audit(driver, args.settle_seconds, f"http://127.0.0.1:{devnet_port}")
    finally:
        regen.set()
        for proc in [*procs, beat, devnet, redis]:
            proc.stop()
        pg.stop()
    report.update(
        {
            "kills": killer.kills,
            "outages": killer.outages,
            "seed": args.seed,
            "seconds": round(time.monotonic() - started, 1),
        }
    )
    print(json.dumps({"bench": "chaos", **report}))
    bad = any(report[k] for k in ("lost", "doubled", "leaked", "stuck_over_10_min"))
    if not bad:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"chaos: logs kept in {work}", file=sys.stderr)
    sys.exit(1 if bad else 0)


def _seed(*, devnet_url: str) -> dict[str, Any]:
    """A partner with an owner key, a custodial pool with stake for about 30 transfers and
    USDT, an emergency wallet with TRX, and a customer with USDT and TRX balances."""
    from tronpy.keys import PrivateKey

    from partners.models import Partner, Role
    from partners.services import api_key_create, customer_create
    from pools.models import EnergyPool, StakingOperation
    from pools.services.keys import signing_key_import
    from pools.services.sync import pools_sync
    from withdrawals.models import Currency
    from withdrawals.services.balances import balance_credit

    partner = Partner.objects.create(slug="chaos", name="Chaos Exchange")

    def account(trx: int, usdt: int, role: str) -> EnergyPool:
        key = PrivateKey.random()
        address = key.public_key.to_base58check_address()
        httpx.post(f"{devnet_url}/devnet/fund", json={"address": address, "trx": trx})
        if usdt:
            httpx.post(f"{devnet_url}/devnet/usdt/mint", json={"address": address, "amount": usdt})
        signing_key_import(private_key_hex=key.hex())
        return EnergyPool.objects.create(
            partner=partner, address=address, custody="custodial", role=role
        )

    pool = account(500_000, 1_000_000, EnergyPool.Role.ENERGY)
    account(100_000, 1_000_000, EnergyPool.Role.EMERGENCY)
    # Stake through the platform's own exactly-once path, then let beat drive it.
    from pools.services.staking import staking_submit

    staking_submit(
        pool=pool,
        kind=StakingOperation.Kind.STAKE,
        amount_sun=400_000 * TRX,
        idempotency_key="seed-stake",
    )
    for _ in range(30):
        time.sleep(1)
        from pools.services.staking import staking_operations_drive

        staking_operations_drive()
        pool.refresh_from_db()
        if pool.staked_trx_sun:
            break
    pools_sync(queryset=EnergyPool.objects.all())
    customer = customer_create(partner=partner, external_ref="chaos", username="chaos-user")
    balance_credit(
        customer=customer, currency=Currency.USDT, amount=Decimal(10**6), idempotency_key="seed"
    )
    balance_credit(
        customer=customer, currency=Currency.TRX, amount=Decimal(10**6), idempotency_key="seed-trx"
    )
    raw = api_key_create(partner=partner, name="chaos", role=Role.OWNER).raw_key
    return {"api_key": raw, "customer_id": customer.pk, "pool_id": pool.pk}


def _settle_and_audit(driver: Driver, settle_seconds: float, devnet_url: str) -> dict[str, Any]:
    from django.db import connections
    from django.db.models import Count

    from pools.chain import chain_client
    from pools.models import Reservation, StakingOperation
    from pools.selectors import ledger_audit
    from withdrawals.models import Attempt, Hold, Withdrawal
    from withdrawals.selectors import balances_out_of_balance

    connections.close_all()  # PostgreSQL was restarted under this process
    final = set(Withdrawal.FINAL_STATUSES)
    ids = {i for sent in driver.sent for i in sent.ids}
    deadline = time.monotonic() + settle_seconds
    while time.monotonic() < deadline:
        moving = Withdrawal.objects.filter(pk__in=ids).exclude(status__in=final).count()
        if not moving:
            break
        time.sleep(2)

    client = chain_client()
    lost = doubled = leaked = stuck = 0
    rows = {w.pk: w for w in Withdrawal.objects.filter(pk__in=ids)}
    now = time.time()
    for sent in driver.sent:
        if len(sent.ids) > 1:
            doubled += 1  # twins answered with two withdrawals
        for withdrawal_id in sent.ids:
            withdrawal = rows.get(withdrawal_id)
            if withdrawal is None:
                lost += 1
                continue
            received = Decimal(client.usdt_balance(sent.to)) / 1_000_000
            if withdrawal.status == "confirmed" and received < sent.amount:
                lost += 1
            if received > (sent.amount if withdrawal.status == "confirmed" else 0):
                doubled += 1
            if withdrawal.status not in final and now - sent.requested_at > 600:
                stuck += 1
    doubled += (
        Attempt.objects.filter(state="confirmed")
        .values("withdrawal")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    doubled += (
        Withdrawal.objects.filter(idempotency_key__gt="")  # emergency ones have none here
        .values("partner", "idempotency_key")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    leaked += Reservation.objects.filter(state="pending", withdrawal__status__in=final).count()
    # Every final withdrawal's holds are resolved, the right way: settled if it went out,
    # released (fee refunded too) if it did not.
    leaked += Hold.objects.filter(withdrawal__status__in=final, state=Hold.State.HELD).count()
    leaked += Hold.objects.filter(withdrawal__status="confirmed", state=Hold.State.RELEASED).count()
    lost += Hold.objects.filter(
        withdrawal__status__in=["failed", "cancelled"], state=Hold.State.SETTLED
    ).count()
    leaked += len(ledger_audit()) + len(balances_out_of_balance())
    leaked += (
        StakingOperation.objects.filter(idempotency_key__gt="")
        .values("pool", "idempotency_key")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    return {
        "withdrawals": len(ids),
        "requests": len(driver.sent),
        "by_status": dict(
            Withdrawal.objects.filter(pk__in=ids)
            .values_list("status")
            .annotate(n=Count("id"))
            .order_by("status")
        ),
        "staking_operations": StakingOperation.objects.count(),
        "lost": lost,
        "doubled": doubled,
        "leaked": leaked,
        "stuck_over_10_min": stuck,
    }


if __name__ == "__main__":
    main()
