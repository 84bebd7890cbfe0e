"""Scale-out: two web processes and two workers (and one beat) against one PostgreSQL and
Redis. Withdrawals sent through both web processes — the same request twice, to different
processes, among them — each go out exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command
from tronpy.keys import PrivateKey

from partners.models import Role
from partners.tests.factories import APIKeyFactory, CustomerFactory, raw_key_for
from pools.chain import chain_client
from pools.models import EnergyPool
from pools.selectors import ledger_audit
from pools.services.keys import signing_key_import
from pools.services.sync import pools_sync
from pools.tests.factories import EnergyPoolFactory
from pools.tests.test_chain_client import KeySigner, send
from withdrawals.models import Attempt, Withdrawal
from withdrawals.services.balances import balance_credit

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[1]
TRX = 1_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"process on port {port} exited with {proc.returncode}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def platform(settings, devnet, tmp_path) -> Iterator[list[str]]:
    """Two daphne processes, two Celery workers and beat, as separate OS processes, on the
    test database and a Redis key space of their own. Yields the two web base URLs."""
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_KEY_PREFIX": f"ep:scale:{uuid.uuid4().hex[:8]}",
        "TRON_NODE_URLS": devnet.url,
        "DEBUG": "1",
        "TESTING": "",
        "AXES_ENABLED": "0",
        "API_RATE_LIMIT": "10000/min",
        "DJANGO_SETTINGS_MODULE": "energy_platform.settings",
    }
    call_command("setup_periodic_tasks")
    ports = [_free_port(), _free_port()]
    commands = (
        [
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "energy_platform.asgi:application",
            ]
            for port in ports
        ]
        + [
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "energy_platform",
                "worker",
                "--pool=solo",
                f"--hostname=w{i}@scale",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=WARNING",
            ]
            for i in (1, 2)
        ]
        + [
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "energy_platform",
                "beat",
                "--loglevel=WARNING",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--pidfile=",
                f"--schedule={tmp_path / 'beat'}",
            ]
        ]
    )
    with contextlib.ExitStack() as stack:
        logs = [
            stack.enter_context(open(tmp_path / f"proc{i}.log", "wb")) for i in range(len(commands))
        ]
        procs = [
            subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            for cmd, log in zip(commands, logs, strict=True)
        ]
        try:
            for port, proc in zip(ports, procs, strict=False):
                _wait_for_port(port, proc)
            yield [f"http://127.0.0.1:{port}" for port in ports]
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def test_two_web_processes_and_two_workers_send_each_withdrawal_once(devnet, partner, platform):
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 300_100)
    devnet.mint(address, 1_000)
    signing_key_import(private_key_hex=key.hex())
    client = chain_client()
    send(
        client, devnet, client.build_stake(owner=address, amount_sun=300_000 * TRX), KeySigner(key)
    )
    pool = EnergyPoolFactory(partner=partner, address=address, custody=EnergyPool.Custody.CUSTODIAL)
    pools_sync(queryset=EnergyPool.objects.filter(pk=pool.pk))
    customer = CustomerFactory(partner=partner)
    balance_credit(customer=customer, currency="USDT", amount=Decimal("100"), idempotency_key="s")
    api_key = APIKeyFactory(partner=partner, role=Role.OPERATOR)
    headers = {"Authorization": f"Api-Key {raw_key_for(api_key.prefix)}"}

    sent: dict[int, str] = {}
    with httpx.Client(timeout=30) as http:
        for i in range(6):
            to = PrivateKey.random().public_key.to_base58check_address()
            body = {"customer_id": customer.pk, "to_address": to, "amount": "1.5"}
            ids = set()
            # The same request twice, to both web processes: one withdrawal.
            for base in (platform[i % 2], platform[(i + 1) % 2]):
                response = http.post(
                    f"{base}/api/v1/withdrawals",
                    json=body,
                    headers={**headers, "Idempotency-Key": f"scale-{i}"},
                )
                assert response.status_code in (200, 201), response.text
                ids.add(response.json()["id"])
            assert len(ids) == 1
            sent[ids.pop()] = to

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statuses = set(Withdrawal.objects.filter(pk__in=sent).values_list("status", flat=True))
        if statuses == {"confirmed"}:
            break
        assert not statuses & {"failed", "cancelled"}, statuses
        devnet.mine()
        time.sleep(1)
    else:
        raise AssertionError(f"not all confirmed: {statuses}")

    assert Withdrawal.objects.filter(customer=customer).count() == 6
    for withdrawal_id, to in sent.items():
        assert client.usdt_balance(to) == 1_500_000  # arrived exactly once
        assert Attempt.objects.filter(withdrawal_id=withdrawal_id, state="confirmed").count() == 1
    assert ledger_audit() == []
