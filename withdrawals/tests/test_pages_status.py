"""The status page's timeline on the devnet: requested, energy reserved or queued, signed,
sent, confirmed with confirmations counted; times, the explorer link, the fee saved or paid."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client
from tronpy.keys import PrivateKey

from partners.tests.factories import CustomerFactory
from pools.models import EnergyUsageLog
from pools.tests.factories import PriceQuoteFactory
from pools.tests.test_chain_client import dead_url
from withdrawals.models import Withdrawal
from withdrawals.selectors import HEAD_CACHE_KEY
from withdrawals.services.balances import balance_credit
from withdrawals.services.requests import withdrawal_cancel
from withdrawals.services.sending import withdrawals_drive
from withdrawals.tests.test_pages import form_token, recipient
from withdrawals.tests.test_sending import hot_pool  # noqa: F401  # fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(hot_pool, partner):  # noqa: F811  # the fixture imported above
    customer = CustomerFactory(partner=partner)
    balance_credit(customer=customer, currency="USDT", amount=Decimal("50"), idempotency_key="s")
    client = Client()
    client.force_login(customer.user)
    return client


def steps(data):
    return [(s["step"], s["state"], s["at"] is not None) for s in data["steps"]]


def test_the_timeline_walks_to_confirmed(alice, devnet):
    to = PrivateKey.random().public_key.to_base58check_address()
    sent = alice.post(
        "/withdraw/", {"to_address": to, "amount": "12.5", "token": form_token(alice)}
    )
    withdrawal = Withdrawal.objects.get()
    url = f"/withdrawals/{withdrawal.pk}/status.json"
    assert sent["Location"] == f"/withdrawals/{withdrawal.pk}/"

    reserved = alice.get(url).json()
    assert (reserved["status"], reserved["amount"]) == ("reserved", "12.5")
    assert steps(reserved) == [
        ("requested", "done", True),
        ("reserved", "done", True),
        ("signed", "current", False),
        ("sent", "pending", False),
        ("confirmed", "pending", False),
    ]
    # Before the receipt: the energy estimate at the energy price (devnet: 100 sun).
    assert reserved["saved_sun"] == withdrawal.energy_estimate * 100
    assert "saves you about" in reserved["html"]

    withdrawals_drive()  # signed and broadcast
    broadcast = alice.get(url).json()
    txid = withdrawal.attempts.get().txid
    assert broadcast["status"] == "broadcast"
    assert steps(broadcast)[2:] == [
        ("signed", "done", True),
        ("sent", "done", True),
        ("confirmed", "current", False),
    ]
    assert f'<code id="txid">{txid}</code>' in broadcast["html"]
    assert 'id="explorer"' not in broadcast["html"]  # the devnet has no explorer

    devnet.mine()
    withdrawals_drive()
    confirmed = alice.get(url).json()
    block = withdrawal.attempts.get().block_number
    assert confirmed["status"] == "confirmed"
    assert confirmed["final"]
    assert all(state == "done" and at for _, state, at in steps(confirmed))
    head = devnet.state()["head_block"]
    assert confirmed["confirmations"] == head - block + 1
    # Saved: the energy the transfer took from the stake, at the price of that moment.
    log = EnergyUsageLog.objects.get(withdrawal=withdrawal)
    assert log.energy_used > 0
    assert confirmed["saved_sun"] == log.energy_used * 100
    assert "saved you" in confirmed["html"]
    # ... the fee the log recorded when written: a quote recorded late for that moment
    # changes nothing (the dashboards and analytics price it the same way).
    assert log.energy_fee_sun == 100
    PriceQuoteFactory(price_sun=Decimal(300), quoted_at=log.at - timedelta(seconds=1))
    assert alice.get(url).json()["saved_sun"] == log.energy_used * 100

    devnet.mine(2)
    cache.delete(HEAD_CACHE_KEY)  # shared for 3 s at most: skip the wait
    later = alice.get(url).json()
    assert later["confirmations"] == confirmed["confirmations"] + 2
    assert (
        f'<strong id="confirmation-count">{later["confirmations"]}</strong> confirmations'
        in (later["html"])
    )
    page = alice.get(f"/withdrawals/{withdrawal.pk}/").content.decode()
    assert f"in block {block}" in page
    assert 'data-final="true"' in page


def test_the_explorer_link_when_one_is_configured(alice, devnet, settings):
    settings.TRON_EXPLORER_URL = "https://explorer.example/#/transaction/{txid}"
    alice.post("/withdraw/", {"to_address": recipient(), "amount": "1", "token": form_token(alice)})
    withdrawal = Withdrawal.objects.get()
    withdrawals_drive()
    txid = withdrawal.attempts.get().txid
    html = alice.get(f"/withdrawals/{withdrawal.pk}/status.json").json()["html"]
    assert f'href="https://explorer.example/#/transaction/{txid}"' in html
    assert 'rel="noopener noreferrer"' in html


def test_confirmations_unknown_when_no_node_answers(alice, devnet, settings):
    alice.post("/withdraw/", {"to_address": recipient(), "amount": "1", "token": form_token(alice)})
    withdrawal = Withdrawal.objects.get()
    withdrawals_drive()
    devnet.mine()
    withdrawals_drive()
    settings.TRON_NODE_URLS = [dead_url()]
    cache.delete(HEAD_CACHE_KEY)
    data = alice.get(f"/withdrawals/{withdrawal.pk}/status.json").json()
    assert (data["status"], data["confirmations"]) == ("confirmed", None)
    assert f"In block {withdrawal.attempts.get().block_number}." in data["html"]


def test_a_queued_withdrawal_shows_its_place_then_its_cancellation(shop):
    client, _customer, _ = shop
    for _ in range(2):
        client.post(
            "/withdraw/", {"to_address": recipient(), "amount": "1", "token": form_token(client)}
        )
    queued = Withdrawal.objects.get(status="queued")
    data = client.get(f"/withdrawals/{queued.pk}/status.json").json()
    assert steps(data) == [
        ("requested", "done", True),
        ("queued", "current", True),  # since when it waits
        ("signed", "pending", False),
        ("sent", "pending", False),
        ("confirmed", "pending", False),
    ]
    assert 'Position <strong id="position">1</strong> in the queue, about' in data["html"]
    korean = client.get(f"/withdrawals/{queued.pk}/", HTTP_ACCEPT_LANGUAGE="ko")
    assert "대기열" in korean.content.decode()
    withdrawal_cancel(withdrawal=queued)
    cancelled = client.get(f"/withdrawals/{queued.pk}/status.json").json()
    assert steps(cancelled) == [("requested", "done", True), ("cancelled", "failed", True)]
    assert cancelled["final"]
    assert "Network fee: none for you." in cancelled["html"]


def test_an_explorer_url_without_a_txid_placeholder_is_refused_at_start():
    import os
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        env={**os.environ, "TRON_EXPLORER_URL": "https://tronscan.org/#/transaction/"},
        check=False,
    )
    assert result.returncode != 0
    assert "TRON_EXPLORER_URL must contain {txid}" in result.stderr
