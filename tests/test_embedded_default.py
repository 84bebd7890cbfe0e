"""`make run`'s embedded default is SQLite: the migrations and every periodic job's work run
on it (PostgreSQL-only SQL would break the demo while every PostgreSQL test passes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from partners.tests.factories import PartnerFactory
from pools.tests.factories import EnergyPoolFactory, EnergyUsageLogFactory, PoolSnapshotFactory
from withdrawals.tests.factories import QueueEntryFactory, WithdrawalFactory
partner = PartnerFactory()
pool = EnergyPoolFactory(partner=partner, energy_limit=1_000_000, energy_used=950_000)
EnergyUsageLogFactory(pool=pool, energy_used=65_000)
PoolSnapshotFactory(pool=pool)
QueueEntryFactory(withdrawal=WithdrawalFactory(partner=partner, status="queued"))
# A withdrawal request, as `make run`'s API takes it: the step-by-step writer (no
# data-modifying CTEs, no advisory locks), and the reads the ORM compiles once.
from decimal import Decimal
from tronpy.keys import PrivateKey
from partners.selectors import Caller
from partners.tests.factories import CustomerFactory
from pools.services.keys import signing_key_import
from withdrawals.selectors import customer_get_for_partner
from withdrawals.services.balances import balance_credit
from withdrawals.services.requests import withdrawal_request
key = PrivateKey.random()
signing_key_import(private_key_hex=key.hex())
sender = EnergyPoolFactory(partner=partner, custody="custodial", energy_limit=10**9,
    address=key.public_key.to_base58check_address())
customer = CustomerFactory(partner=partner)
balance_credit(customer=customer, currency="USDT", amount=Decimal(10), idempotency_key="s")
customer = customer_get_for_partner(caller=Caller(partner=partner, role="operator"),
    customer_id=customer.pk)
recipient = PrivateKey.random().public_key.to_base58check_address()
first, created = withdrawal_request(customer=customer, to_address=recipient,
    amount=Decimal(1), idempotency_key="k")
again, repeated = withdrawal_request(customer=customer, to_address=recipient,
    amount=Decimal(1), idempotency_key="k")
assert created and not repeated and again.pk == first.pk, (first, again)
assert first.status == "queued", first.status  # behind the queued withdrawal above
from alerts.services.rules import alerts_check
from predictions.services import predictions_refresh
from withdrawals.services.requests import queue_allocate
from withdrawals.services.audit import expire_and_audit
from operations.services import cleanup_run
from dashboard.selectors import partner_dashboard
from dashboard.selectors import analytics
alerts_check(check_node=False)
predictions_refresh()
queue_allocate()
expire_and_audit()
cleanup_run()
partner_dashboard(partner_id=partner.pk)
analytics(partner_id=partner.pk, days=30)
from decimal import Decimal
from predictions.services.rebalance import rebalance_plan
EnergyPoolFactory(partner=partner, custody="custodial", energy_limit=2_000_000)
rebalance_plan(energy_per_trx=Decimal("15"), head_block=None)
print("embedded default ok")
"""


@pytest.mark.slow
def test_migrations_and_jobs_run_on_the_embedded_sqlite(tmp_path, devnet):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "PYTEST_XDIST_WORKER")
    }
    env.update(
        VAR_DIR=str(tmp_path),
        DEBUG="1",
        TESTING="",
        DJANGO_SETTINGS_MODULE="energy_platform.settings",
        TRON_NODE_URLS=devnet.url,
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "embedded default ok" in result.stdout
