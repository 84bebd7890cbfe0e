"""The emergency choice on the pages: the fee quoted, then paid from the TRX balance or on
chain (the amount, the address and its QR code shown; the payment's txid verified)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from partners.tests.factories import CustomerFactory
from pools.models import EnergyPool
from withdrawals.models import Balance, EmergencyFee, Withdrawal
from withdrawals.services.balances import balance_credit
from withdrawals.tests.test_emergency import emergency_wallet, pay_on_chain
from withdrawals.tests.test_pages import form_token, recipient

pytestmark = pytest.mark.django_db

FEE_TRX = Decimal("13.3735")  # a cold transfer at the devnet's prices


@pytest.fixture
def wallet(devnet, partner, shop):
    _client, _customer, pool = shop
    EnergyPool.objects.filter(pk=pool.pk).update(energy_limit=0)  # nothing to wait for
    return emergency_wallet(devnet, partner, usdt=1000)


def quote(client, to=None):
    data = {
        "to_address": to or recipient(),
        "amount": "5",
        "token": form_token(client),
        "mode": "emergency",
    }
    first = client.post("/withdraw/", data)
    again = client.post("/withdraw/", data)  # double submit: one quote
    assert first.status_code == 302
    assert again["Location"] == first["Location"]
    withdrawal = Withdrawal.objects.get()
    assert first["Location"] == f"/withdrawals/{withdrawal.pk}/pay/"
    assert (withdrawal.mode, withdrawal.status) == ("emergency", "requested")
    return withdrawal


def state(customer, withdrawal):
    withdrawal.refresh_from_db()
    fee = EmergencyFee.objects.get(withdrawal=withdrawal)
    money = {b.currency: (b.available, b.held) for b in Balance.objects.filter(customer=customer)}
    return withdrawal.status, fee.paid_with, fee.payment_txid, money


def test_the_page_shows_the_amount_the_address_and_its_qr_code(shop, wallet):
    client, _customer, _ = shop
    withdrawal = quote(client)
    page = client.get(f"/withdrawals/{withdrawal.pk}/pay/").content.decode()
    assert '<span id="fee-trx">13.3735</span> TRX' in page
    assert f'<code id="pay-to">{wallet.address}</code>' in page
    assert '<svg class="qr" role="img"' in page
    assert 'id="countdown"' in page
    # No TRX balance: only the on-chain payment is offered.
    assert 'id="pay-balance"' not in page
    assert "does not cover the fee" in page
    korean = client.get(f"/withdrawals/{withdrawal.pk}/pay/", HTTP_ACCEPT_LANGUAGE="ko")
    assert "네트워크 수수료 결제" in korean.content.decode()


def test_paid_from_the_trx_balance(shop, wallet):
    client, customer, _ = shop
    balance_credit(customer=customer, currency="TRX", amount=Decimal("20"), idempotency_key="t")
    withdrawal = quote(client)
    page = client.get(f"/withdrawals/{withdrawal.pk}/pay/").content.decode()
    assert 'id="pay-balance"' in page
    assert '<strong id="trx-available">20 TRX</strong>' in page
    url = f"/withdrawals/{withdrawal.pk}/pay/"
    first = client.post(url, {"paid_with": "balance"})
    again = client.post(url, {"paid_with": "balance"})  # double submit: paid once
    assert first["Location"] == f"/withdrawals/{withdrawal.pk}/"
    assert again["Location"] == first["Location"]
    assert state(customer, withdrawal) == (
        "reserved",
        "balance",
        None,
        {"USDT": (Decimal("95"), Decimal("5")), "TRX": (20 - FEE_TRX, FEE_TRX)},
    )
    status = client.get(f"/withdrawals/{withdrawal.pk}/").content.decode()
    assert "13.3735 TRX from your TRX balance." in status
    # A paid quote's page goes to the status page.
    assert client.get(url)["Location"] == f"/withdrawals/{withdrawal.pk}/"


def test_paid_on_chain_with_the_txid(shop, wallet, devnet):
    client, customer, _ = shop
    withdrawal = quote(client)
    before = state(customer, withdrawal)
    txid = pay_on_chain(devnet, wallet, FEE_TRX)
    url = f"/withdrawals/{withdrawal.pk}/pay/"
    # Pasted from a wallet: upper case and surrounding spaces are fine.
    response = client.post(url, {"paid_with": "onchain", "payment_txid": f"  {txid.upper()} "})
    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == f"/withdrawals/{withdrawal.pk}/"
    assert state(customer, withdrawal) == (
        "reserved",
        "onchain",
        txid,
        {"USDT": (Decimal("95"), Decimal("5"))},  # the TRX came from the wallet
    )
    assert before[0] == "requested"
    status = client.get(f"/withdrawals/{withdrawal.pk}/").content.decode()
    assert "13.3735 TRX paid on chain." in status
    assert f'<code id="payment-txid">{txid}</code>' in status


@pytest.mark.parametrize(
    ("payment", "field_error"),
    [
        ({"paid_with": "onchain", "payment_txid": ""}, "Enter the transaction ID"),
        ({"paid_with": "onchain", "payment_txid": "0x1234"}, "64 characters"),
        ({"paid_with": "onchain", "payment_txid": "g" * 64}, "64 characters"),
        ({"paid_with": "onchain", "payment_txid": "ab" * 32}, "No TRX transfer with this txid"),
        ({"paid_with": "onchain", "payment_txid": "short"}, "less than the quoted fee"),
        ({"paid_with": "onchain", "payment_txid": "elsewhere"}, "went to another address"),
        ({"paid_with": "balance"}, "does not cover the fee"),
        ({"paid_with": "cash"}, "Select a valid choice"),
        ({}, "This field is required"),
    ],
)
def test_bad_payments_show_errors_and_change_nothing(shop, wallet, devnet, payment, field_error):
    client, customer, _ = shop
    withdrawal = quote(client)
    if payment.get("payment_txid") == "short":
        payment["payment_txid"] = pay_on_chain(devnet, wallet, Decimal("1"))
    elif payment.get("payment_txid") == "elsewhere":
        payment["payment_txid"] = pay_on_chain(devnet, wallet, FEE_TRX, to=recipient())
    before = state(customer, withdrawal)
    page = client.post(f"/withdrawals/{withdrawal.pk}/pay/", payment)
    assert page.status_code == 200
    assert field_error in page.content.decode()
    assert 'class="errorlist' in page.content.decode()
    assert state(customer, withdrawal) == before


def test_refusals_speak_korean(shop, wallet):
    client, _customer, _ = shop
    withdrawal = quote(client)
    url = f"/withdrawals/{withdrawal.pk}/pay/"
    korean = client.post(url, {"paid_with": "balance"}, HTTP_ACCEPT_LANGUAGE="ko")
    assert "TRX 잔액이 수수료에 부족합니다" in korean.content.decode()
    unknown = client.post(
        url, {"paid_with": "onchain", "payment_txid": "ab" * 32}, HTTP_ACCEPT_LANGUAGE="ko"
    )
    assert "이 txid의 TRX 전송이 없습니다" in unknown.content.decode()


def test_a_payment_is_never_used_twice(shop, wallet, devnet):
    client, customer, _ = shop
    first = quote(client)
    txid = pay_on_chain(devnet, wallet, FEE_TRX)
    assert (
        client.post(
            f"/withdrawals/{first.pk}/pay/", {"paid_with": "onchain", "payment_txid": txid}
        ).status_code
        == 302
    )
    second = quote_another(client, customer)
    page = client.post(
        f"/withdrawals/{second.pk}/pay/", {"paid_with": "onchain", "payment_txid": txid}
    )
    assert "already used" in page.content.decode()
    assert state(customer, second)[:3] == ("requested", "", None)


def quote_another(client, customer):
    data = {
        "to_address": recipient(),
        "amount": "5",
        "token": form_token(client),
        "mode": "emergency",
    }
    assert client.post("/withdraw/", data).status_code == 302
    return Withdrawal.objects.filter(customer=customer).order_by("-pk").first()


def test_an_expired_quote_offers_only_a_payment_made_in_time(shop, wallet):
    client, customer, _ = shop
    balance_credit(customer=customer, currency="TRX", amount=Decimal("20"), idempotency_key="t")
    withdrawal = quote(client)
    EmergencyFee.objects.filter(withdrawal=withdrawal).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    url = f"/withdrawals/{withdrawal.pk}/pay/"
    page = client.get(url).content.decode()
    assert "This quote has expired" in page
    assert 'id="pay-balance"' not in page
    assert 'id="pay-onchain"' in page
    refused = client.post(url, {"paid_with": "balance"})  # an old tab's button
    assert "The quote has expired" in refused.content.decode()
    assert state(customer, withdrawal)[0] == "requested"
    Withdrawal.objects.filter(pk=withdrawal.pk).update(
        status="cancelled", failure_reason="quote expired unpaid"
    )
    assert "was cancelled" in client.get(url).content.decode()
    status = client.get(f"/withdrawals/{withdrawal.pk}/", HTTP_ACCEPT_LANGUAGE="ko")
    assert "미결제로 견적이 만료됨" in status.content.decode()


def test_the_pay_page_is_the_owners_and_only_for_emergency_withdrawals(shop, wallet, partner):
    client, customer, _ = shop
    withdrawal = quote(client)
    url = f"/withdrawals/{withdrawal.pk}/pay/"
    for outsider in (CustomerFactory(partner=partner), CustomerFactory()):
        stranger = Client()
        stranger.force_login(outsider.user)
        assert stranger.get(url).status_code == 404
        assert stranger.post(url, {"paid_with": "balance"}).status_code == 404
    assert Client().get(url).status_code == 302  # not logged in: to the login page
    EnergyPool.objects.filter(partner=partner, role="energy").update(energy_limit=10**7)
    data = {"to_address": recipient(), "amount": "1", "token": form_token(client)}
    standard = client.post("/withdraw/", data)
    standard_id = standard["Location"].split("/")[2]
    assert client.get(f"/withdrawals/{standard_id}/pay/").status_code == 404
    assert state(customer, withdrawal)[0] == "requested"
