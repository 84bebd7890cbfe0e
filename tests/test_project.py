"""Project-level checks: demo data, OpenAPI schema, deploy settings."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from partners.models import APIKey, Customer, Membership, Partner
from pools.models import EnergyPool, PoolSnapshot, StakingOperation
from tron_devnet.testing import devnet_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_working_logins(settings, client):
    settings.DEBUG = True
    with devnet_server(mode="realtime") as devnet:  # blocks every 3 s, as under `make run`
        settings.TRON_NODE_URLS = [devnet.url]
        out = StringIO()
        call_command("seed_demo", stdout=out)
        call_command("seed_demo", stdout=out)
        hot = EnergyPool.objects.get(label="hot-1")
        assert hot.staked_trx_sun == 300_000 * 1_000_000
        assert hot.energy_limit > 0
        assert PoolSnapshot.objects.filter(pool=hot).count() > 24 * 27
        assert StakingOperation.objects.count() == 0  # stakes are demo set-up, not operations
    assert Partner.objects.count() == 2
    assert Membership.objects.count() == 4
    assert Customer.objects.count() == 2
    assert EnergyPool.objects.count() == 6
    assert EnergyPool.objects.filter(role="emergency").count() == 2
    # one live demo key per partner; the first run's keys were revoked
    assert APIKey.objects.filter(revoked_at__isnull=True).count() == 2
    last_key = out.getvalue().rsplit("Api-Key ", 1)[1].split()[0]
    response = client.get("/api/v1/pools/", HTTP_AUTHORIZATION=f"Api-Key {last_key}")
    assert response.status_code == 200
    assert response.json()["count"] == 2  # borealis: its pool and its emergency wallet


@pytest.mark.django_db
def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("seed_demo", stdout=StringIO())


@pytest.mark.django_db
def test_openapi_schema_and_docs(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    for path in (
        "/api/v1/partners/me/",
        "/api/v1/pools/",
        "/api/v1/pools/{pool_id}/",
        "/api/v1/health",
        "/api/v1/status",
    ):
        assert path in schema["paths"], path
    assert client.get("/api/docs/").status_code == 200


def test_schema_generates_without_warnings():
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--fail-on-warn",
            "--validate",
            "--file",
            os.devnull,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DEBUG": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_deploy_check_is_clean_with_production_settings():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "TESTING"}} | {
        "DEBUG": "0",
        "SECRET_KEY": "x9$kq!r2-pl#v8zt@w5&m1yn7^c3bj0h6f4gd_ue+sa%io*ex-prod-like-key",
        "KEY_ENCRYPTION_KEYS": "n4GJ2p0vQ6f1cXh1QK0yZr8m3u5t7w9A2b4d6f8h0jk=",
        "ALLOWED_HOSTS": "energy.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_missing_secrets():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env | {"DEBUG": "0"},
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_development_keys_are_refused_off_the_devnet():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "TESTING"}} | {
        "DEBUG": "1",
        "TRON_NETWORK": "mainnet",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode != 0
    assert "common.E001" in result.stderr
    assert "common.E002" in result.stderr


POOL_PROBE = """
import threading
from django.db import connection
pids = set()
lock = threading.Lock()
def borrow():
    for _ in range(5):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            with lock:
                pids.add(cursor.fetchone()[0])
        connection.close()  # back to the pool, as at the end of a request
threads = [threading.Thread(target=borrow) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
from pools.chain import chain_client
connection.ensure_connection()
try:  # a call to the TRON node (answered or not) first gives the connection back
    chain_client().chain_parameters()
except Exception:
    pass
checked = connection.pool._check is not None  # dead connections are not handed out
print(type(connection.pool).__name__, len(pids), connection.connection is None, checked)
"""


def test_web_pool_reuses_connections_across_threads():
    """DB_POOL_MAX_SIZE (the web process): 20 borrows from 4 threads, at most 2 backends;
    a request gives its connection back before it waits on the chain; the pool checks
    what it hands out."""
    from urllib.parse import urlsplit

    url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/postgres").geturl()
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", POOL_PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ
        | {
            "DATABASE_URL": url,
            "DB_POOL_MAX_SIZE": "2",
            "TRON_NODE_URLS": "http://127.0.0.1:9",  # nothing listens: fails fast
        },
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    kind, backends, released, checked = result.stdout.split()[-4:]  # after the shell's banner
    assert kind == "ConnectionPool"
    assert 1 <= int(backends) <= 2
    assert released == "True"
    assert checked == "True"
