"""Demo data for `make run`: partners, staff, API keys, customers, pools on the devnet, an admin,
and four weeks of pool history.

Idempotent: a second run keeps existing rows (and chain state), re-keys the demo admin,
issues fresh demo API keys (revoking the old ones) and prints the logins again. Refuses to run
with DEBUG off, and touches the chain only when `TRON_NETWORK` is `devnet`.
"""

from __future__ import annotations

import hashlib
import time
from decimal import Decimal
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from partners.admin_users import admin_user_create
from partners.models import APIKey, Customer, Membership, Partner, Role
from partners.services import api_key_create, api_key_revoke, customer_create, partner_staff_create
from pools.chain import chain_client
from pools.chain.signers import address_of
from pools.demo import pool_history_generate
from pools.models import EnergyPool, PoolSnapshot, SigningKey
from pools.selectors import signer_for_address
from pools.services.keys import signing_key_import
from pools.services.sync import pools_sync
from withdrawals.models import Currency
from withdrawals.services.balances import balance_credit

# Printed by `make run`; seed_demo refuses to run outside DEBUG.
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105
ADMIN_PASSWORD = "admin-pass-2026"  # noqa: S105
DEMO_KEY_NAME = "demo key"
TRX = 1_000_000

# (slug, name, [(pool label, TRX staked for energy, USDT in the hot wallet)]); a pool with
# no stake is the partner's emergency wallet (it burns TRX).
PARTNERS = [
    (
        "acme",
        "Acme Wallet",
        [
            ("hot-1", 300_000, 50_000),
            ("hot-2", 120_000, 20_000),
            ("reserve", 40_000, 5_000),
            ("emergency", 0, 20_000),
        ],
    ),
    ("borealis", "Borealis Exchange", [("main", 200_000, 80_000), ("emergency", 0, 20_000)]),
]


def demo_private_key(label: str) -> bytes:
    """A deterministic key per demo pool, so restarts find the same devnet accounts."""
    return hashlib.sha256(f"energy-platform-demo/{label}".encode()).digest()


class Command(BaseCommand):
    help = "Create demo partners, users, devnet pools with history, and an admin (DEBUG only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo runs only with DEBUG on")
        with transaction.atomic():
            lines = self._seed_accounts()
        if settings.TRON_NETWORK == "devnet":
            self._seed_chain()
        admin = admin_user_create(
            username="admin", email="admin@example.com", password=ADMIN_PASSWORD, reset=True
        )
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Demo logins (DEVELOPMENT ONLY)",
                    f"  admin console   /admin/   admin / {ADMIN_PASSWORD}"
                    "  (operations: /admin/console/)",
                    f"    second factor: backup code {admin.backup_codes[0]} "
                    f"(others: {' '.join(admin.backup_codes[1:])})",
                    f"    or add to an authenticator: {admin.provisioning_uri}",
                    *lines,
                ]
            )
        )

    def _seed_accounts(self) -> list[str]:
        user_model = get_user_model()
        lines: list[str] = []
        for slug, name, pools in PARTNERS:
            partner, _ = Partner.objects.get_or_create(
                slug=slug, defaults={"name": name, "contact_email": f"ops@{slug}.example"}
            )
            for role in (Role.OWNER, Role.VIEWER):
                username = f"{slug}-{role}"
                if not user_model.objects.filter(username=username).exists():
                    partner_staff_create(
                        partner=partner, username=username, password=DEMO_PASSWORD, role=role
                    )
            customer_name = f"{slug}-user"
            customer = Customer.objects.filter(user__username=customer_name).first()
            if customer is None:
                customer = customer_create(
                    partner=partner,
                    external_ref=f"{slug}-0001",
                    username=customer_name,
                    password=DEMO_PASSWORD,
                )
            balance_credit(
                customer=customer,
                currency=Currency.USDT,
                amount=Decimal("1000"),
                idempotency_key="demo-credit",
                reference="demo deposit",
            )
            for label, staked, _usdt in pools:
                key = demo_private_key(f"{slug}/{label}")
                address = address_of(key)
                if not SigningKey.objects.filter(address=address).exists():
                    signing_key_import(private_key_hex=key.hex())
                EnergyPool.objects.get_or_create(
                    address=address,
                    defaults={
                        "partner": partner,
                        "label": label,
                        "custody": EnergyPool.Custody.CUSTODIAL,
                        "role": EnergyPool.Role.ENERGY if staked else EnergyPool.Role.EMERGENCY,
                    },
                )
            for old in APIKey.objects.filter(partner=partner, name=DEMO_KEY_NAME):
                api_key_revoke(api_key=old)
            owner = Membership.objects.get(partner=partner, role=Role.OWNER)
            issued = api_key_create(
                partner=partner, name=DEMO_KEY_NAME, created_by_id=owner.user_id
            )
            lines += [
                f"  partner {name} (id {partner.pk}):",
                f"    staff          {slug}-owner / {DEMO_PASSWORD}  ({slug}-viewer is read-only)"
                "  dashboard: /login/?next=/dashboard/",
                f"    end user       /login/  {customer_name} / {DEMO_PASSWORD}",
                f"    API key        Authorization: Api-Key {issued.raw_key}",
            ]
        return lines

    def _seed_chain(self) -> None:
        """Fund, stake and fill each demo pool on the devnet, then sync and add history."""
        client = chain_client()
        control = httpx.Client(base_url=settings.TRON_NODE_URLS[0], timeout=30)
        pending: list[str] = []
        for slug, _name, pools in PARTNERS:
            for label, staked_trx, usdt in pools:
                address = address_of(demo_private_key(f"{slug}/{label}"))
                state = client.account_state(address)
                if state.exists and state.staked_energy_sun >= staked_trx * TRX:
                    continue
                control.post("/devnet/fund", json={"address": address, "trx": staked_trx + 500})
                control.post("/devnet/usdt/mint", json={"address": address, "amount": usdt})
                if not staked_trx:
                    continue  # the emergency wallet: TRX to burn, no stake
                signer = signer_for_address(address=address)
                assert signer is not None
                unsigned = client.build_stake(owner=address, amount_sun=staked_trx * TRX)
                result = client.broadcast(client.sign(unsigned, signer))
                if not result.accepted:
                    raise CommandError(f"staking {label} failed: {result.code} {result.message}")
                pending.append(unsigned.txid)
        control.close()
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            pending = [txid for txid in pending if client.transaction_receipt(txid) is None]
            time.sleep(0.5)
        if pending:
            raise CommandError(
                "the devnet did not confirm the demo stakes; is it producing blocks?"
            )
        pools_sync()
        for pool in EnergyPool.objects.filter(partner__slug__in=[p[0] for p in PARTNERS]):
            if not PoolSnapshot.objects.filter(pool=pool).count() > 24:
                pool_history_generate(pool=pool, days=28)
