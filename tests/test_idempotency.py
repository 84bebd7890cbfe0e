"""One matrix for every idempotent endpoint (`common/idempotency.py`): the same key and body
→ the stored answer; another body → 422; a twin in flight → 409; a reserved key → 400; no
key where one is required → 400. Every refusal changes nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient
from tronpy.keys import PrivateKey

from common.idempotency import claim
from partners.models import Partner
from partners.tests.factories import CustomerFactory
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD
from pools.models import EnergyPool, StakingOperation
from pools.services.keys import signing_key_import
from pools.tests.factories import EnergyPoolFactory
from tests.db_state import database_state
from withdrawals.models import Credit, EmergencyFee, Withdrawal
from withdrawals.services.balances import balance_credit
from withdrawals.tests.test_emergency import emergency_wallet

pytestmark = pytest.mark.django_db


def new_address() -> str:
    return str(PrivateKey.random().public_key.to_base58check_address())


@dataclass
class Endpoint:
    """One idempotent operation, set up on the devnet, ready to be sent."""

    url: str
    body: dict[str, Any]
    other_body: dict[str, Any]
    # (scope, owner, key) the service claims for `key`.
    claim_for: Callable[[str], tuple[str, int, str]]
    key_required: bool
    # The rows one accepted request makes (counted before and after).
    made: Callable[[], int]


def custodial_pool(devnet: Any, partner: Partner, **fields: Any) -> EnergyPool:
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 100_000)
    devnet.mint(address, 10_000)
    signing_key_import(private_key_hex=key.hex())
    return EnergyPoolFactory(
        partner=partner, address=address, custody=EnergyPool.Custody.CUSTODIAL, **fields
    )


def funded_customer(partner: Partner) -> Any:
    customer = CustomerFactory(partner=partner)
    for currency, amount in (("USDT", "1000"), ("TRX", "100")):
        balance_credit(
            customer=customer, currency=currency, amount=Decimal(amount), idempotency_key=currency
        )
    return customer


def withdrawals(devnet: Any, partner: Partner, client: APIClient) -> Endpoint:
    custodial_pool(devnet, partner, energy_limit=10 * USDT_TRANSFER_ENERGY_COLD)
    customer = funded_customer(partner)
    body = {"customer_id": customer.pk, "to_address": new_address(), "amount": "25.5"}
    return Endpoint(
        url="/api/v1/withdrawals",
        body=body,
        other_body={**body, "amount": "26"},
        claim_for=lambda key: ("withdrawal", partner.pk, key),
        key_required=False,
        made=Withdrawal.objects.count,
    )


def emergency_quotes(devnet: Any, partner: Partner, client: APIClient) -> Endpoint:
    emergency_wallet(devnet, partner, usdt=1000)
    customer = funded_customer(partner)
    body = {"customer_id": customer.pk, "to_address": new_address(), "amount": "5"}
    return Endpoint(
        url="/api/v1/energy/emergency-withdrawal/quote",
        body=body,
        other_body={**body, "to_address": new_address()},
        claim_for=lambda key: ("withdrawal", partner.pk, key),
        key_required=False,
        made=EmergencyFee.objects.count,
    )


def emergency_confirms(devnet: Any, partner: Partner, client: APIClient) -> Endpoint:
    """A confirm's key is its withdrawal: one payment each, whatever the header says."""
    emergency_wallet(devnet, partner, usdt=1000)
    customer = funded_customer(partner)
    quoted = client.post(
        "/api/v1/energy/emergency-withdrawal/quote",
        {"customer_id": customer.pk, "to_address": new_address(), "amount": "5"},
        format="json",
    )
    assert quoted.status_code == 201, quoted.content
    withdrawal_id = quoted.json()["withdrawal"]["id"]
    body = {"withdrawal_id": withdrawal_id, "paid_with": "balance"}
    return Endpoint(
        url="/api/v1/energy/emergency-withdrawal/confirm",
        body=body,
        other_body={**body, "paid_with": "onchain", "payment_txid": "ab" * 32},
        claim_for=lambda key: ("emergency-confirm", withdrawal_id, ""),
        key_required=False,
        made=EmergencyFee.objects.filter(paid_at__isnull=False).count,
    )


def emergency_quotes_deprecated(devnet: Any, partner: Partner, client: APIClient) -> Endpoint:
    """The deprecated combined endpoint (`action: quote`) keeps the same guarantees."""
    endpoint = emergency_quotes(devnet, partner, client)
    return Endpoint(
        url="/api/v1/energy/emergency-withdrawal",
        body={"action": "quote", **endpoint.body},
        other_body={"action": "quote", **endpoint.other_body},
        claim_for=endpoint.claim_for,
        key_required=False,
        made=endpoint.made,
    )


def credits(devnet: Any, partner: Partner, client: APIClient) -> Endpoint:
    customer = CustomerFactory(partner=partner)
    body = {"currency": "USDT", "amount": "12.5", "reference": "deposit 1"}
    return Endpoint(
        url=f"/api/v1/users/{customer.pk}/credits",
        body=body,
        other_body={**body, "amount": "13"},
        claim_for=lambda key: ("credit", customer.pk, key),
        key_required=True,
        made=Credit.objects.count,
    )


def staking(devnet: Any, partner: Partner, client: APIClient) -> Endpoint:
    pool = custodial_pool(devnet, partner, energy_limit=0)
    body = {"kind": "stake", "amount_trx": "100"}
    return Endpoint(
        url=f"/api/v1/pools/{pool.pk}/operations",
        body=body,
        other_body={**body, "amount_trx": "101"},
        claim_for=lambda key: ("staking", pool.pk, key),
        key_required=True,
        made=StakingOperation.objects.count,
    )


ENDPOINTS = {
    "withdrawals": withdrawals,
    "emergency-quote": emergency_quotes,
    "emergency-confirm": emergency_confirms,
    "emergency-quote-deprecated": emergency_quotes_deprecated,
    "credits": credits,
    "staking": staking,
}


@pytest.fixture(params=sorted(ENDPOINTS))
def endpoint(request: pytest.FixtureRequest, devnet: Any, partner: Partner, key_client: APIClient):
    return ENDPOINTS[request.param](devnet, partner, key_client)


@contextmanager
def claimed_elsewhere(scope: str, owner_id: int, key: str) -> Iterator[None]:
    """The claim held by a twin request: another connection, inside its transaction."""
    held, done = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def twin() -> None:
        try:
            with transaction.atomic():
                claim(scope=scope, owner_id=owner_id, key=key)
                held.set()
                done.wait(30)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failure.append(exc)
            held.set()
        finally:
            connection.close()

    thread = threading.Thread(target=twin)
    thread.start()
    try:
        assert held.wait(30)
        assert not failure, failure
        yield
    finally:
        done.set()
        thread.join()


def send(client: APIClient, endpoint: Endpoint, body: dict[str, Any], key: str | None) -> Any:
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(endpoint.url, body, format="json", **headers)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error: dict[str, Any] = response.json()["error"]
    assert (error["status"], error["code"]) == (status, code)
    assert error["message"]
    return error


def test_same_key_and_body_is_the_stored_answer(endpoint: Endpoint, key_client: APIClient):
    before = endpoint.made()
    first = send(key_client, endpoint, endpoint.body, "order-1")
    assert first.status_code in (200, 201), first.content
    state = database_state()
    again = send(key_client, endpoint, endpoint.body, "order-1")
    assert again.status_code in (200, 201), again.content
    assert again.json() == first.json()
    assert endpoint.made() == before + 1
    assert database_state() == state


def test_same_key_other_body_is_422_and_changes_nothing(endpoint: Endpoint, key_client):
    assert send(key_client, endpoint, endpoint.body, "order-2").status_code in (200, 201)
    state = database_state()
    refused = send(key_client, endpoint, endpoint.other_body, "order-2")
    assert_error(refused, 422, "idempotency_key_reused")
    assert database_state() == state


@pytest.mark.django_db(transaction=True)
def test_a_twin_in_flight_is_409_and_changes_nothing(endpoint: Endpoint, key_client):
    state = database_state()
    with claimed_elsewhere(*endpoint.claim_for("order-3")):
        refused = send(key_client, endpoint, endpoint.body, "order-3")
    assert_error(refused, 409, "idempotency_key_in_flight")
    assert refused["Retry-After"] == "1"
    assert database_state() == state
    # Once the twin is gone, the request goes through.
    assert send(key_client, endpoint, endpoint.body, "order-3").status_code in (200, 201)


def test_a_reserved_or_malformed_key_is_400_and_changes_nothing(endpoint: Endpoint, key_client):
    state = database_state()
    for key, message in (
        ("platform:emergency-refund:1", "reserved"),
        ("x" * 256, "255"),
        ("caf\u00e9", "ASCII"),
    ):
        refused = send(key_client, endpoint, endpoint.body, key)
        error = assert_error(refused, 400, "invalid")
        assert message in error["fields"]["idempotency_key"][0]
    assert database_state() == state


def test_a_missing_key_is_400_where_required(endpoint: Endpoint, key_client):
    state = database_state()
    response = send(key_client, endpoint, endpoint.body, None)
    if endpoint.key_required:
        error = assert_error(response, 400, "invalid")
        assert "required" in error["fields"]["idempotency_key"][0]
        assert database_state() == state
    else:
        assert response.status_code in (200, 201), response.content
