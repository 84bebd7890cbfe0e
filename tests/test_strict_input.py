"""Input the API promises to refuse is refused, in the error shape, changing nothing: one
regression test per defect found by probing the API as an outsider would."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient
from tronpy.keys import PrivateKey

from partners.models import Partner
from partners.tests.factories import CustomerFactory
from pools.models import EnergyPool
from pools.services.keys import signing_key_import
from pools.tests.factories import EnergyPoolFactory
from tests.db_state import database_state
from withdrawals.services.balances import balance_credit

pytestmark = pytest.mark.django_db


def address() -> str:
    return str(PrivateKey.random().public_key.to_base58check_address())


@pytest.fixture
def world(devnet: Any, partner: Partner) -> dict[str, Any]:
    key = PrivateKey.random()
    pool_address = key.public_key.to_base58check_address()
    devnet.fund(pool_address, 1000)
    devnet.mint(pool_address, 1000)
    signing_key_import(private_key_hex=key.hex())
    pool = EnergyPoolFactory(
        partner=partner,
        address=pool_address,
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=10**7,
    )
    customer = CustomerFactory(partner=partner)
    balance_credit(
        customer=customer, currency="USDT", amount=Decimal("1000"), idempotency_key="seed"
    )
    return {"pool": pool, "customer": customer}


def refused(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error: dict[str, Any] = response.json()["error"]
    assert error["status"] == status
    assert error["code"]
    assert error["message"]
    return error


def post_raw(client: APIClient, url: str, raw: bytes, **headers: str) -> Any:
    return client.generic("POST", url, raw, content_type="application/json", **headers)


def amount_endpoints(world: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    customer, pool = world["customer"], world["pool"]
    return [
        (
            "/api/v1/withdrawals",
            {"customer_id": customer.pk, "to_address": address(), "amount": "1"},
            "amount",
        ),
        (f"/api/v1/users/{customer.pk}/credits", {"currency": "USDT", "amount": "1"}, "amount"),
        (
            "/api/v1/energy/emergency-withdrawal",
            {"action": "quote", "customer_id": customer.pk, "to_address": address(), "amount": "1"},
            "amount",
        ),
        (
            "/api/v1/energy/emergency-withdrawal/quote",
            {"customer_id": customer.pk, "to_address": address(), "amount": "1"},
            "amount",
        ),
        (f"/api/v1/pools/{pool.pk}/operations", {"kind": "stake", "amount_trx": "1"}, "amount_trx"),
        (f"/api/v1/pools/{pool.pk}/stake-quote", {"amount_trx": "1"}, "amount_trx"),
    ]


def test_a_lone_surrogate_in_a_key_or_value_is_a_400_not_a_500(world, key_client):
    state = database_state()
    for raw in (b'{"\\ud800": 1}', b'{"name": "\\ud800"}', b'{"name": "a\\udfffb"}'):
        for method, url in (("PATCH", "/api/v1/partners/me/"), ("POST", "/api/v1/withdrawals")):
            response = key_client.generic(method, url, raw, content_type="application/json")
            assert response.status_code in (400, 403), response.content  # PATCH: owners only
            if response.status_code == 400:
                assert "surrogate" in refused(response)["message"]
    assert database_state() == state


def test_a_nul_in_a_string_is_refused_before_it_reaches_the_database(world, key_client):
    raw = b'{"customer_id": 1, "to_address": "T\\u0000", "amount": "1"}'
    assert "NUL" in refused(post_raw(key_client, "/api/v1/withdrawals", raw))["message"]


def test_deep_nesting_is_a_400_not_a_recursion_error(world, key_client):
    for raw in (b"[" * 5000, b"[" * 5000 + b"]" * 5000, b'{"a":' * 40 + b"1" + b"}" * 40):
        error = refused(post_raw(key_client, "/api/v1/withdrawals", raw))
        assert error["code"] == "parse_error"


def test_oversized_bodies_and_repeated_keys_are_refused(world, key_client):
    big = b'{"reference": "' + b"x" * 70_000 + b'"}'
    assert refused(post_raw(key_client, "/api/v1/withdrawals", big), 413)["code"] == (
        "request_too_large"
    )
    twice = b'{"amount": "1", "amount": "1000"}'
    assert "twice" in refused(post_raw(key_client, "/api/v1/withdrawals", twice))["message"]
    for constant in (b"NaN", b"Infinity"):
        body = b'{"amount": ' + constant + b"}"
        refused(post_raw(key_client, "/api/v1/withdrawals", body))


def test_an_integer_query_parameter_past_2_63_is_a_field_error(world, partner, key_client):
    url = f"/api/v1/energy/usage-logs/{partner.pk}"
    for value in ("9223372036854775808", "1e3", "1.0", "-1", "0", "\u0661", " 1"):
        error = refused(key_client.get(url, {"pool": value}))
        assert "pool" in error["fields"]
    assert key_client.get(url, {"pool": str(world["pool"].pk)}).status_code == 200


def test_a_time_offset_the_database_cannot_take_is_a_field_error(partner, key_client):
    url = f"/api/v1/energy/usage-logs/{partner.pk}"
    for value in ("9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+14:00"):
        assert "since" in refused(key_client.get(url, {"since": value}))["fields"]
    # An odd offset on an ordinary time is converted, not refused.
    assert key_client.get(url, {"since": "2026-01-01T00:00:00-23:00"}).status_code == 200


@pytest.mark.parametrize(
    "amount",
    ["1_000", "1E+2", "1e2", "\u0661\u0660\u0660", " 5", "5 ", "+5", "-5", ".5", "5.", "0x10"],
)
def test_amounts_match_the_schemas_pattern_exactly(world, key_client, amount):
    state = database_state()
    for url, body, field in amount_endpoints(world):
        headers = {"HTTP_IDEMPOTENCY_KEY": "amount-pattern"}
        response = key_client.post(url, {**body, field: amount}, format="json", **headers)
        assert field in refused(response)["fields"], (url, response.content)
    assert database_state() == state


def test_amounts_are_json_strings_not_numbers(world, key_client):
    for url, body, field in amount_endpoints(world):
        response = key_client.post(url, {**body, field: 5}, format="json", HTTP_IDEMPOTENCY_KEY="n")
        assert "JSON string" in refused(response)["fields"][field][0]


def test_json_types_are_exactly_as_declared(world, key_client, owner_client):
    customer, pool = world["customer"], world["pool"]
    withdrawal = {"customer_id": customer.pk, "to_address": address(), "amount": "1"}
    credit = {"currency": "USDT", "amount": "1"}
    delegate = {"kind": "delegate", "amount_trx": "1", "receiver": address()}
    cases: list[tuple[APIClient, str, dict[str, Any], str]] = [
        (
            key_client,
            "/api/v1/withdrawals",
            {**withdrawal, "customer_id": str(customer.pk)},
            "customer_id",
        ),
        (
            key_client,
            "/api/v1/withdrawals",
            {**withdrawal, "customer_id": float(customer.pk)},
            "customer_id",
        ),
        (key_client, "/api/v1/withdrawals", {**withdrawal, "customer_id": True}, "customer_id"),
        (key_client, "/api/v1/withdrawals", {**withdrawal, "to_address": 5}, "to_address"),
        (key_client, "/api/v1/customers", {"external_ref": 12345}, "external_ref"),
        (
            key_client,
            f"/api/v1/pools/{pool.pk}/operations",
            {**delegate, "lock_period_blocks": "1"},
            "lock_period_blocks",
        ),
        (
            key_client,
            f"/api/v1/users/{customer.pk}/credits",
            {**credit, "reference": 7},
            "reference",
        ),
        (
            owner_client,
            "/api/v1/pools/",
            {"address": address(), "generate_key": "true"},
            "generate_key",
        ),
        (owner_client, "/api/v1/pools/", {"generate_key": 1}, "generate_key"),
        (owner_client, "/api/v1/pools/", {"address": address(), "role": 1}, "role"),
    ]
    state = database_state()
    for client, url, body, field in cases:
        response = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="types")
        assert field in refused(response)["fields"], (url, body, response.content)
    customer_id = key_client.post(
        "/api/v1/withdrawals",
        {"customer_id": 2**63, "to_address": address(), "amount": "1"},
        format="json",
    )
    assert "customer_id" in refused(customer_id)["fields"]
    assert database_state() == state


def test_addresses_are_taken_as_sent_not_trimmed(world, key_client):
    customer, pool = world["customer"], world["pool"]
    to = address()
    for sent in (f" {to}", f"{to} ", f"{to}\n"):
        response = key_client.post(
            "/api/v1/withdrawals",
            {"customer_id": customer.pk, "to_address": sent, "amount": "1"},
            format="json",
        )
        assert "to_address" in refused(response)["fields"]
        operation = key_client.post(
            f"/api/v1/pools/{pool.pk}/operations",
            {"kind": "delegate", "amount_trx": "1", "receiver": sent},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"trim-{len(sent)}-{sent[-1]!r}",
        )
        assert "receiver" in refused(operation)["fields"]


def test_a_name_of_only_invisible_characters_is_refused(owner_client, partner):
    for name in ("\u200b", "\u2060\u200b", "\u3000", "\ufeff"):
        response = owner_client.patch("/api/v1/partners/me/", {"name": name}, format="json")
        assert "name" in refused(response)["fields"]
    partner.refresh_from_db()
    assert partner.name == "Acme Wallet"
    assert (
        owner_client.patch("/api/v1/partners/me/", {"name": "Acme 2"}, format="json").status_code
        == 200
    )


def test_malformed_multipart_is_refused_in_the_error_shape(owner):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner.user)
    for content_type in ("multipart/form-data", "multipart/form-data; boundary="):
        response = client.generic(
            "PATCH", "/api/v1/partners/me/", b"--x\r\nbroken", content_type=content_type
        )
        refused(response, response.status_code)
        assert 400 <= response.status_code < 500
        response = client.generic(
            "POST", "/api/v1/withdrawals", b"--x\r\nbroken", content_type=content_type
        )
        refused(response, response.status_code)
        assert 400 <= response.status_code < 500
