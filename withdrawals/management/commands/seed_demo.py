"""Demo data for `make run`: partners, staff, an API key, customers, pools, an admin.

Idempotent: a second run keeps existing rows, re-keys the demo admin and issues a fresh
demo API key (the old one is revoked), and prints the logins again. Refuses to run with
DEBUG off so it can never touch a production database.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from common.tron import hex_to_tron_address
from partners.admin_users import admin_user_create
from partners.models import APIKey, Customer, Membership, Partner, Role
from partners.services import api_key_create, api_key_revoke, customer_create, partner_staff_create
from pools.models import EnergyPool

# Printed by `make run`; seed_demo refuses to run outside DEBUG.
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105
ADMIN_PASSWORD = "admin-pass-2026"  # noqa: S105
DEMO_KEY_NAME = "demo key"

PARTNERS = [
    ("acme", "Acme Wallet", ["hot-1", "hot-2", "reserve"]),
    ("borealis", "Borealis Exchange", ["main"]),
]


def demo_address(label: str) -> str:
    """A valid, deterministic address for demo rows (no key exists for it)."""
    return hex_to_tron_address("41" + hashlib.sha256(label.encode()).hexdigest()[:40])


class Command(BaseCommand):
    help = "Create demo partners, users, pools and an admin (DEBUG only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo runs only with DEBUG on")
        with transaction.atomic():
            lines = self._seed()
        admin = admin_user_create(
            username="admin", email="admin@example.com", password=ADMIN_PASSWORD, reset=True
        )
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Demo logins (DEVELOPMENT ONLY)",
                    f"  admin console   /admin/   admin / {ADMIN_PASSWORD}",
                    f"    second factor: backup code {admin.backup_codes[0]} "
                    f"(others: {' '.join(admin.backup_codes[1:])})",
                    f"    or add to an authenticator: {admin.provisioning_uri}",
                    *lines,
                ]
            )
        )

    def _seed(self) -> list[str]:
        user_model = get_user_model()
        lines: list[str] = []
        for slug, name, pool_labels in PARTNERS:
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
            if not Customer.objects.filter(user__username=customer_name).exists():
                customer_create(
                    partner=partner,
                    external_ref=f"{slug}-0001",
                    username=customer_name,
                    password=DEMO_PASSWORD,
                )
            for label in pool_labels:
                EnergyPool.objects.get_or_create(
                    address=demo_address(f"{slug}/{label}"),
                    defaults={"partner": partner, "label": label},
                )
            for key in APIKey.objects.filter(partner=partner, name=DEMO_KEY_NAME):
                api_key_revoke(api_key=key)
            owner = Membership.objects.get(partner=partner, role=Role.OWNER)
            issued = api_key_create(
                partner=partner, name=DEMO_KEY_NAME, created_by_id=owner.user_id
            )
            lines += [
                f"  partner {name}:",
                f"    staff          {slug}-owner / {DEMO_PASSWORD}  ({slug}-viewer is read-only)",
                f"    end user       /login/  {customer_name} / {DEMO_PASSWORD}",
                f"    API key        Authorization: Api-Key {issued.raw_key}",
            ]
        return lines
