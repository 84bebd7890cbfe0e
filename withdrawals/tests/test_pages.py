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


@pytest.fixture
def shop(devnet, partner):
    """A customer with 100 USDT and a custodial pool with room for one cold transfer."""
    from tronpy.keys import PrivateKey

    from pools.chain.client import USDT_TRANSFER_ENERGY_COLD
    from pools.models import EnergyPool
    from pools.services.keys import signing_key_import
    from pools.tests.factories import EnergyPoolFactory
    from withdrawals.services.balances import balance_credit

    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 10)
    devnet.mint(address, 1000)
    signing_key_import(private_key_hex=key.hex())
    pool = EnergyPoolFactory(
        partner=partner,
        address=address,
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=USDT_TRANSFER_ENERGY_COLD + 1,
    )
    customer = CustomerFactory(partner=partner, user__username="alice")
    balance_credit(
        customer=customer, currency="USDT", amount=Decimal("100"), idempotency_key="seed"
    )
    client = Client()
    client.force_login(customer.user)
    return client, customer, pool


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
    assert "100.000000 USDT" in page
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
    stranger = Client()
    stranger.force_login(CustomerFactory(partner=customer.partner).user)
    assert stranger.get(f"/withdrawals/{withdrawal.pk}/").status_code == 404
    assert stranger.get(f"/withdrawals/{withdrawal.pk}/status.json").status_code == 404


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


def test_pay_and_go_now_from_the_trx_balance(shop, devnet, partner):
    from tronpy.keys import PrivateKey

    from pools.models import EnergyPool
    from pools.services.keys import signing_key_import
    from pools.tests.factories import EnergyPoolFactory
    from withdrawals.services.balances import balance_credit

    client, customer, pool = shop
    EnergyPool.objects.filter(pk=pool.pk).update(energy_limit=0)  # nothing to wait for
    key = PrivateKey.random()
    devnet.fund(key.public_key.to_base58check_address(), 100)
    signing_key_import(private_key_hex=key.hex())
    EnergyPoolFactory(
        partner=partner,
        address=key.public_key.to_base58check_address(),
        custody="custodial",
        role="emergency",
        energy_limit=0,
    )
    balance_credit(customer=customer, currency="TRX", amount=Decimal("20"), idempotency_key="trx")
    page = client.get("/withdraw/").content.decode()
    assert 'id="pay-and-go"' in page
    data = {
        "to_address": recipient(),
        "amount": "5",
        "token": form_token(client),
        "mode": "emergency",
    }
    first = client.post("/withdraw/", data)
    again = client.post("/withdraw/", data)  # double submit: one withdrawal, one payment
    assert first.status_code == 302
    assert again["Location"] == first["Location"]
    withdrawal = Withdrawal.objects.get()
    assert (withdrawal.mode, withdrawal.status) == ("emergency", "reserved")


@pytest.fixture
def emergency_wallet(devnet, partner):
    from withdrawals.tests.test_emergency import emergency_wallet

    return emergency_wallet(devnet, partner, usdt=1000)


def test_a_corrected_form_after_a_failed_pay_and_go_is_a_new_request(shop, emergency_wallet):
    """ "Pay and go" with no TRX leaves an unpaid quote behind; the form that comes back
    carries a new token, so the corrected request is sent as corrected, not as the quote."""
    from withdrawals.services.balances import balance_credit

    client, customer, _ = shop
    wrong, right = recipient(), recipient()
    token = form_token(client)
    data = {"to_address": wrong, "amount": "5", "token": token, "mode": "emergency"}
    failed = client.post("/withdraw/", data)
    assert failed.status_code == 200
    assert "does not cover the fee" in failed.content.decode()
    assert token_in(failed) != token
    balance_credit(customer=customer, currency="TRX", amount=Decimal("20"), idempotency_key="t")
    corrected = client.post("/withdraw/", {**data, "to_address": right, "token": token_in(failed)})
    assert corrected.status_code == 302
    sent = Withdrawal.objects.get(status="reserved")
    assert (sent.mode, sent.to_address) == ("emergency", right)
    assert Withdrawal.objects.get(to_address=wrong).status == "requested"  # unpaid; expires


def test_a_stale_token_sent_again_with_other_details_is_refused_not_a_500(shop, emergency_wallet):
    client, _customer, _ = shop
    token = form_token(client)
    data = {"to_address": recipient(), "amount": "5", "token": token, "mode": "emergency"}
    assert client.post("/withdraw/", data).status_code == 200  # no TRX: an unpaid quote
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
