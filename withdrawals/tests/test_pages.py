"""End-user pages: session login and the customer's own history."""

from decimal import Decimal

import pytest
from django.test import Client

from partners.tests.factories import TEST_PASSWORD, CustomerFactory, MembershipFactory
from withdrawals.models import Withdrawal
from withdrawals.tests.factories import WithdrawalFactory

pytestmark = pytest.mark.django_db


def test_history_requires_login():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_customer_logs_in_and_sees_only_own_withdrawals():
    customer = CustomerFactory(user__username="alice")
    mine = WithdrawalFactory(customer=customer, partner=customer.partner)
    theirs = WithdrawalFactory()
    client = Client()
    response = client.post("/login/", {"username": "alice", "password": TEST_PASSWORD})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert mine.to_address in page
    assert theirs.to_address not in page


def test_wrong_password_shows_the_form_again():
    CustomerFactory(user__username="alice")
    response = Client().post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()


def test_partner_staff_is_not_a_customer():
    membership = MembershipFactory()
    client = Client()
    client.force_login(membership.user)
    assert client.get("/").status_code == 403


def test_pages_speak_korean():
    customer = CustomerFactory()
    client = Client()
    client.force_login(customer.user)
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'lang="ko"' in page


def history_client(count):
    customer = CustomerFactory()
    statuses = ["confirmed", "queued", "failed", "reserved", "cancelled"]
    for n in range(count):
        WithdrawalFactory(
            customer=customer,
            partner=customer.partner,
            amount=Decimal("12.500000") + n,
            status=statuses[n % len(statuses)],
        )
    client = Client()
    client.force_login(customer.user)
    return client, customer


def rows(page):
    return page.content.decode().count('<li><a class="row"')


def test_history_has_badges_and_amounts_without_trailing_zeros():
    client, _ = history_client(2)
    page = client.get("/").content.decode()
    assert '<span class="amount">13.5 USDT</span>' in page
    assert '<span class="amount">12.5 USDT</span>' in page
    assert "12.500000" not in page
    assert 'class="badge badge-confirmed" data-status="confirmed">Confirmed<' in page
    assert 'class="badge badge-queued" data-status="queued">Queued<' in page
    korean = client.get("/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'data-status="confirmed">완료<' in korean


def test_history_pages_newest_first(django_assert_num_queries):
    client, customer = history_client(45)
    newest = Withdrawal.objects.filter(customer=customer).order_by("-created_at", "-id")
    first = client.get("/")
    assert rows(first) == 20
    assert f"/withdrawals/{newest[0].pk}/" in first.content.decode()
    assert 'aria-current="page">1<' in first.content.decode()
    assert 'href="?page=3"' in first.content.decode()
    last = client.get("/?page=3")
    assert rows(last) == 5
    assert f"/withdrawals/{newest[44].pk}/" in last.content.decode()
    assert rows(client.get("/?page=99")) == 5  # past the end: the last page
    assert rows(client.get("/?page=x")) == 20  # not a number: the first
    # The number of queries does not grow with the page or the history.
    with django_assert_num_queries(5):
        client.get("/?page=2")
    small, _ = history_client(1)
    with django_assert_num_queries(5):
        small.get("/")


def recipient():
    from tronpy.keys import PrivateKey

    return PrivateKey.random().public_key.to_base58check_address()


def token_in(page):
    """The one-time token of the form on `page` (a response)."""
    return page.content.decode().split('name="token" value="')[1].split('"')[0]


def form_token(client):
    return token_in(client.get("/withdraw/"))


def test_form_shows_fee_free_then_busy_notice(shop):
    client, _customer, _pool = shop
    page = client.get("/withdraw/").content.decode()
    assert "Network fee free" in page
    assert "<strong>100 USDT</strong>" in page  # no trailing zeros
    response = client.post(
        "/withdraw/", {"to_address": recipient(), "amount": "10", "token": form_token(client)}
    )
    assert response.status_code == 302
    page = client.get("/withdraw/").content.decode()
    assert "Network busy" in page
    assert "position 1" in page
    assert "13.37 TRX" in page
    korean = client.get("/withdraw/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "네트워크가 혼잡합니다" in korean


def test_double_submit_sends_once(shop):
    client, _customer, _ = shop
    data = {"to_address": recipient(), "amount": "10", "token": form_token(client)}
    first = client.post("/withdraw/", data)
    second = client.post("/withdraw/", data)
    assert first["Location"] == second["Location"]
    assert Withdrawal.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"to_address": "TNope", "amount": "1"}, "valid TRON address"),
        ({"amount": "100.5"}, "does not cover"),
        ({"amount": "0"}, "greater than or equal"),
        ({"amount": "1.1234567"}, "decimal places"),
        ({"amount": "ten"}, "Enter a number"),
        ({"to_address": ""}, "This field is required"),
        ({"mode": "free-please"}, "Select a valid choice"),
    ],
)
def test_bad_input_shows_errors_and_changes_nothing(shop, data, message):
    client, _customer, _ = shop
    payload = {"to_address": recipient(), "amount": "1", "token": form_token(client), **data}
    page = client.post("/withdraw/", payload)
    assert page.status_code == 200
    assert message in page.content.decode()
    assert not Withdrawal.objects.exists()


def test_status_page_and_json_are_the_owners_only(shop):
    client, customer, _ = shop
    client.post(
        "/withdraw/", {"to_address": recipient(), "amount": "10", "token": form_token(client)}
    )
    withdrawal = Withdrawal.objects.get()
    assert "Reserved" in client.get(f"/withdrawals/{withdrawal.pk}/").content.decode()
    data = client.get(f"/withdrawals/{withdrawal.pk}/status.json").json()
    assert (data["status"], data["final"], data["txid"]) == ("reserved", False, None)
    for outsider in (CustomerFactory(partner=customer.partner), CustomerFactory()):
        stranger = Client()
        stranger.force_login(outsider.user)  # the same partner's other customer, another's
        for url in (f"/withdrawals/{withdrawal.pk}/", f"/withdrawals/{withdrawal.pk}/status.json"):
            assert stranger.get(url).status_code == 404
    assert client.get("/withdrawals/999999/").status_code == 404


def test_queued_status_shows_position_and_wait(shop):
    client, _customer, _ = shop
    for _ in range(2):
        client.post(
            "/withdraw/", {"to_address": recipient(), "amount": "1", "token": form_token(client)}
        )
    queued = Withdrawal.objects.get(status="queued")
    data = client.get(f"/withdrawals/{queued.pk}/status.json").json()
    assert data["queue_position"] == 1
    assert data["wait_minutes"] >= 1


def test_address_is_checked_as_typed(shop):
    client, _, _ = shop
    assert client.get("/withdraw/check-address", {"address": recipient()}).json()["valid"]
    bad = client.get("/withdraw/check-address", {"address": "T123"}).json()
    assert (bad["valid"], bool(bad["message"])) == (False, True)


@pytest.fixture
def emergency_wallet(devnet, partner):
    from withdrawals.tests.test_emergency import emergency_wallet

    return emergency_wallet(devnet, partner, usdt=1000)


def test_a_refused_quote_comes_back_with_a_new_token(shop):
    """No emergency wallet: "pay and go" is refused with the reason, and the form that comes
    back carries a new token, so a corrected request is sent as a new one."""
    client, _customer, _ = shop
    token = form_token(client)
    data = {"to_address": recipient(), "amount": "5", "token": token, "mode": "emergency"}
    refused = client.post("/withdraw/", data)
    assert refused.status_code == 200
    assert "no emergency wallet" in refused.content.decode()
    assert token_in(refused) != token
    assert not Withdrawal.objects.exists()
    korean = client.post("/withdraw/", data, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "긴급 출금 지갑이 없습니다" in korean


def test_a_stale_token_sent_again_with_other_details_is_refused_not_a_500(shop, emergency_wallet):
    client, _customer, _ = shop
    token = form_token(client)
    data = {"to_address": recipient(), "amount": "5", "token": token, "mode": "emergency"}
    quoted = client.post("/withdraw/", data)  # an unpaid quote, shown for payment
    assert quoted.status_code == 302
    assert quoted["Location"].endswith("/pay/")
    # The browser's back button: the old token again, now for the queue.
    again = client.post("/withdraw/", {**data, "mode": "standard"})
    assert again.status_code == 200
    assert "already sent with other details" in again.content.decode()
    assert Withdrawal.objects.count() == 1
    queued = client.post("/withdraw/", {**data, "mode": "standard", "token": token_in(again)})
    assert queued.status_code == 302
    assert Withdrawal.objects.count() == 2


def test_a_request_still_in_flight_keeps_its_token(shop):
    """A double click's twin finds the first still being processed: the page that comes
    back keeps the token, so sending it again finds the first request, not a second one."""
    import threading

    from django.db import connection, transaction

    from common.idempotency import claim

    client, customer, _ = shop
    token = form_token(client)
    data = {"to_address": recipient(), "amount": "10", "token": token}
    held, done = threading.Event(), threading.Event()

    def first_request_in_flight() -> None:  # holds the key's lock as the first POST would
        try:
            with transaction.atomic():
                claim(scope="withdrawal", owner_id=customer.partner_id, key=f"web-{token}")
                held.set()
                done.wait(10)
        finally:
            connection.close()

    twin = threading.Thread(target=first_request_in_flight)
    twin.start()
    try:
        assert held.wait(10)
        page = client.post("/withdraw/", data)
    finally:
        done.set()
        twin.join()
    assert page.status_code == 200
    assert "not answering" in page.content.decode()
    assert token_in(page) == token
    assert not Withdrawal.objects.exists()
    assert client.post("/withdraw/", data).status_code == 302  # once the lock is free
    assert Withdrawal.objects.count() == 1


def test_a_suspended_partners_customers_are_shut_out(shop):
    """As its API keys are: no form, no status page."""
    from partners.models import Partner

    client, customer, _ = shop
    data = {"to_address": recipient(), "amount": "10", "token": form_token(client)}
    assert client.post("/withdraw/", data).status_code == 302
    withdrawal = Withdrawal.objects.get()
    Partner.objects.filter(pk=customer.partner_id).update(status="suspended")
    assert client.get("/withdraw/").status_code == 403
    assert client.get(f"/withdrawals/{withdrawal.pk}/").status_code == 403
    assert client.get("/").status_code == 403


ENGLISH_ALLOWED = {"USDT", "TRX", "UTC", "TRON", "QR", "ID", "txid", "English"}


def english_words(page):
    """Words in Latin letters a reader sees on `page` (not in scripts, styles, or codes)."""
    import re

    html = page.content.decode()
    for hidden in ("script", "style", "code", "template", "svg"):
        html = re.sub(rf"<{hidden}\b.*?</{hidden}>", " ", html, flags=re.DOTALL)
    text = re.sub(r"<[^>]+>", " ", html)
    return set(re.findall(r"[A-Za-z]{2,}", text)) - ENGLISH_ALLOWED


def test_every_page_speaks_korean(shop, emergency_wallet):
    """Each page, in each state shown here, has no English left for a Korean reader."""
    from withdrawals.services.requests import withdrawal_cancel
    from withdrawals.services.sending import withdrawals_drive

    client, _customer, _ = shop
    ko = {"HTTP_ACCEPT_LANGUAGE": "ko"}
    assert {"Withdraw", "Balance", "Log", "out"} <= english_words(client.get("/withdraw/"))
    assert english_words(client.get("/withdraw/", **ko)) == set()  # fee free
    standard = {"to_address": recipient(), "amount": "10", "token": form_token(client)}
    client.post("/withdraw/", standard)
    sent = Withdrawal.objects.get()
    queued = {"to_address": recipient(), "amount": "1", "token": form_token(client)}
    client.post("/withdraw/", queued)
    waiting = Withdrawal.objects.get(status="queued")
    emergency = {**queued, "to_address": recipient(), "token": form_token(client)}
    paying = client.post("/withdraw/", {**emergency, "mode": "emergency"})
    pay_url = paying["Location"]
    pages = [
        client.get("/withdraw/", **ko),  # busy
        client.get(f"/withdrawals/{sent.pk}/", **ko),
        client.get(f"/withdrawals/{waiting.pk}/", **ko),
        client.get(pay_url, **ko),
        client.post(pay_url, {"paid_with": "balance"}, **ko),
        client.post(pay_url, {"paid_with": "onchain", "payment_txid": "x"}, **ko),
        client.post("/withdraw/", {**emergency, "mode": "standard"}, **ko),  # refused
        client.get(pay_url.replace("pay/", ""), **ko),
    ]
    withdrawals_drive()
    withdrawal_cancel(withdrawal=waiting)
    pages += [
        client.get(f"/withdrawals/{sent.pk}/", **ko),  # sent
        client.get(f"/withdrawals/{waiting.pk}/", **ko),  # cancelled
        client.get("/", **ko),
        Client().get("/login/", **ko),
    ]
    for page in pages:
        assert page.status_code == 200
        assert english_words(page) == set(), page.request["PATH_INFO"]
