"""Broken object-level authorization, generated from the OpenAPI schema.

Every operation of the schema that names an object in its path is called by every role of one
partner with the ids of another partner's objects; every operation that names one in its body
or query likewise. Each answer must be a 403 or 404 that mentions nothing of the other
partner, and nothing of the other partner may change. A new endpoint is covered the moment it
is in the schema; one whose path parameter this test cannot fill fails it until it can.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from alerts.models import AlertChannel
from alerts.tests.factories import EnergyAlertFactory
from partners.models import Partner, PartnerWallet, Role
from partners.tests.factories import (
    APIKeyFactory,
    CustomerFactory,
    MembershipFactory,
    PartnerFactory,
    raw_key_for,
)
from pools.models import EnergyPool, RentalOrder
from pools.tests.factories import EnergyPoolFactory
from withdrawals.models import Balance, Withdrawal
from withdrawals.services.balances import balance_credit
from withdrawals.tests.factories import WithdrawalFactory

pytestmark = pytest.mark.django_db

VICTIM_ADDRESS = "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"
VICTIM_WALLET = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


@dataclass
class Victim:
    partner: Partner
    pool: EnergyPool
    customer: Any
    withdrawal: Withdrawal
    alert: Any
    channel: Any
    wallet: Any
    rental_order: RentalOrder

    def marks(self) -> list[str]:
        """Strings that must never appear in an answer to someone else."""
        return [
            self.partner.slug,
            self.partner.name,
            self.pool.address,
            self.pool.label,
            self.customer.external_ref,
            self.withdrawal.to_address,
            self.channel.name,
            self.wallet.address,
            self.channel.target,
            self.rental_order.reason,
        ]

    def fingerprint(self) -> tuple[Any, ...]:
        """Everything an attacker's write could change."""
        self.pool.refresh_from_db()
        self.withdrawal.refresh_from_db()
        self.alert.refresh_from_db()
        self.partner.refresh_from_db()
        return (
            self.partner.updated_at,
            self.pool.updated_at,
            self.pool.status,
            self.withdrawal.status,
            self.withdrawal.updated_at,
            self.alert.acknowledged_at,
            self.alert.updated_at,
            tuple(Balance.objects.filter(customer=self.customer).values_list("available", "held")),
            self.pool.operations.count(),
            tuple(
                AlertChannel.objects.filter(pk=self.channel.pk).values_list(
                    "name", "target", "is_active", "updated_at"
                )
            ),
            Withdrawal.objects.filter(partner=self.partner).count(),
        )


@pytest.fixture
def victim() -> Victim:
    partner = PartnerFactory(name="Victim Exchange", slug="victim-exchange")
    pool = EnergyPoolFactory(
        partner=partner, address=VICTIM_ADDRESS, label="victim-pool-label", energy_limit=10**7
    )
    customer = CustomerFactory(partner=partner, external_ref="victim-customer-ref")
    balance_credit(customer=customer, currency="USDT", amount=Decimal(50), idempotency_key="v")
    withdrawal = WithdrawalFactory(customer=customer, partner=partner, pool=pool)
    alert = EnergyAlertFactory(partner=partner, pool=pool)
    channel = AlertChannel.objects.create(
        partner=partner, name="victim-channel", kind="email", target="victim-ops@example.com"
    )
    wallet = PartnerWallet.objects.create(partner=partner, address=VICTIM_WALLET, label="vw")
    rental_order = RentalOrder.objects.create(
        pool=pool,
        provider="devnet-market",
        need_key="victim-need",
        reason="victim-rental-reason",
        energy=65_000,
        days=1,
        price_sun=40,
        burn_price_sun=100,
        cost_sun=2_600_000,
    )
    return Victim(partner, pool, customer, withdrawal, alert, channel, wallet, rental_order)


# How to fill each path parameter with the victim's object.
PATH_PARAMS: dict[str, Callable[[Victim], object]] = {
    "partner_id": lambda v: v.partner.pk,
    "pool_id": lambda v: v.pool.pk,
    "customer_id": lambda v: v.customer.pk,
    "withdrawal_id": lambda v: v.withdrawal.pk,
    "alert_id": lambda v: v.alert.pk,
    "channel_id": lambda v: v.channel.pk,
    "wallet_id": lambda v: v.wallet.pk,
    "rental_order_id": lambda v: v.rental_order.pk,
    "job": lambda v: "sync_pools",
}

# A body that passes validation, so the request reaches the object's lookup.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("/api/v1/pools/{pool_id}/", "patch"): {"label": "mine now"},
    ("/api/v1/pools/{pool_id}/status", "post"): {"status": "paused"},
    ("/api/v1/pools/{pool_id}/operations", "post"): {"kind": "stake", "amount_trx": "1"},
    ("/api/v1/pools/{pool_id}/stake-quote", "post"): {"amount_trx": "1"},
    ("/api/v1/users/{customer_id}/credits", "post"): {"amount": "1", "currency": "USDT"},
    ("/api/v1/alert-channels/{channel_id}", "patch"): {"name": "mine now"},
}

# Operations that name another object in their body.
BODY_REFERENCES: list[tuple[str, Callable[[Victim], dict[str, Any]]]] = [
    (
        "/api/v1/withdrawals",
        lambda v: {"customer_id": v.customer.pk, "to_address": VICTIM_ADDRESS, "amount": "1"},
    ),
    (
        "/api/v1/energy/emergency-withdrawal",
        lambda v: {
            "action": "quote",
            "customer_id": v.customer.pk,
            "to_address": VICTIM_ADDRESS,
            "amount": "1",
        },
    ),
    (
        "/api/v1/energy/emergency-withdrawal",
        lambda v: {"action": "confirm", "withdrawal_id": v.withdrawal.pk, "paid_with": "balance"},
    ),
    (
        "/api/v1/energy/emergency-withdrawal/quote",
        lambda v: {"customer_id": v.customer.pk, "to_address": VICTIM_ADDRESS, "amount": "1"},
    ),
    (
        "/api/v1/energy/emergency-withdrawal/confirm",
        lambda v: {"withdrawal_id": v.withdrawal.pk, "paid_with": "balance"},
    ),
]


def _schema_operations() -> list[tuple[str, str, list[str]]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if not isinstance(operation, dict):
                continue
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            operations.append((path, method, names))
    return operations


def _attackers(attacker: Partner | None = None) -> list[tuple[str, APIClient]]:
    """An API key and a staff session of each role of the attacking partner."""
    attacker = attacker or PartnerFactory(name="Attacker", slug="attacker")
    clients = []
    for role in (Role.OWNER, Role.OPERATOR, Role.VIEWER):
        key = APIKeyFactory(partner=attacker, role=role)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key_for(key.prefix)}")
        clients.append((f"{role} key", client))
        member = MembershipFactory(partner=attacker, role=role)
        session = APIClient()
        session.force_login(member.user)
        clients.append((f"{role} session", session))
    return clients


def _assert_nothing_leaked(response: Any, victim: Victim, where: str) -> None:
    assert response.status_code in (403, 404), (
        f"{where}: {response.status_code} {response.content[:300]!r}"
    )
    text = response.content.decode(errors="replace")
    for mark in victim.marks():
        assert mark not in text, f"{where}: answer mentions {mark!r}"


def test_every_object_in_a_path_is_out_of_another_partners_reach(victim):
    operations = [op for op in _schema_operations() if op[2]]
    assert len(operations) >= 10  # the schema was read
    unknown = {name for _, _, names in operations for name in names} - set(PATH_PARAMS)
    assert not unknown, f"add these path parameters to PATH_PARAMS: {sorted(unknown)}"
    before = victim.fingerprint()
    for who, client in _attackers():
        for path, method, names in operations:
            url = path
            for name in names:
                url = url.replace("{" + name + "}", str(PATH_PARAMS[name](victim)))
            body = BODIES.get((path, method), {})
            response = getattr(client, method)(
                url, body, format="json", HTTP_IDEMPOTENCY_KEY=f"bola-{who}-{path}-{method}"
            )
            _assert_nothing_leaked(response, victim, f"{who} {method.upper()} {url}")
    assert victim.fingerprint() == before


def test_every_object_named_in_a_body_or_query_is_out_of_reach(victim):
    before = victim.fingerprint()
    for who, client in _attackers():
        for path, make_body in BODY_REFERENCES:
            response = client.post(
                path, make_body(victim), format="json", HTTP_IDEMPOTENCY_KEY=f"bola-body-{who}"
            )
            _assert_nothing_leaked(response, victim, f"{who} POST {path}")
    # Filters on the caller's own lists that name the victim's objects find nothing of them.
    attacker = Partner.objects.get(slug="attacker")
    for who, client in _attackers(attacker):
        for path, query in (
            ("/api/v1/withdrawals", {"customer": victim.customer.pk}),
            ("/api/v1/withdrawals", {"pool": victim.pool.pk}),
            (f"/api/v1/energy/usage-logs/{attacker.pk}", {"pool": victim.pool.pk}),
            ("/api/v1/energy/shares", {"pool": victim.pool.pk}),
        ):
            response = client.get(path, query)
            assert response.status_code in (200, 400, 404), f"{who} GET {path} {query}"
            text = response.content.decode(errors="replace")
            assert not any(mark in text for mark in victim.marks()), f"{who} GET {path} {query}"
            if response.status_code == 200:
                assert response.json()["results"] == [], f"{who} GET {path} {query}"
    assert victim.fingerprint() == before
