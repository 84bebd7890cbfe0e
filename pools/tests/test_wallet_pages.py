"""The partner staff's wallet page: who sees what, and each refusal shown in the reader's
language (the browser test drives the TronLink part: tests/test_browser_wallets.py)."""

import re

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from partners.models import PartnerWallet, WalletChallenge
from partners.tests.factories import CustomerFactory, PartnerWalletFactory, UserFactory
from pools.models import EnergyPool
from pools.tests.test_wallet_signatures import KNOWN_ADDRESS, KNOWN_KEY
from tests.test_admin import verified_client

pytestmark = pytest.mark.django_db

PAGE = "/partner/wallets/"


def logged_in(membership, language="en"):
    client = Client()
    client.force_login(membership.user)
    client.cookies["django_language"] = language
    return client


def sign_page(client):
    response = client.post(f"{PAGE}challenge", {"address": KNOWN_ADDRESS})
    assert response.status_code == 302, response.content
    challenge = WalletChallenge.objects.latest("created_at")
    assert response["Location"] == f"{PAGE}sign/{challenge.nonce}/"
    return challenge


def tronlink_post(client, challenge, *, key=KNOWN_KEY, message=None, address=KNOWN_ADDRESS):
    signature = key.sign_msg((message or challenge.message).encode()).tronweb_hex()
    return client.post(
        f"{PAGE}sign/{challenge.nonce}/",
        {"address": address, "signature": "0x" + signature, "label": "treasury"},
    )


def test_the_owner_links_a_wallet_from_the_page(owner):
    client = logged_in(owner)
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="connect-form"' in html
    assert "<script>" not in html.split("</head>")[1]  # the page's own script is a file
    assert re.search(r'<script src="/static/partners/wallets\.js" defer>', html)

    challenge = sign_page(client)
    shown = client.get(f"{PAGE}sign/{challenge.nonce}/")
    assert shown.status_code == 200
    assert 'id="sign-form"' in shown.content.decode()
    assert challenge.message.split("\n")[0] in shown.content.decode()

    done = tronlink_post(client, challenge)
    assert done.status_code == 302
    assert done["Location"] == PAGE
    listed = client.get(PAGE).content.decode()
    assert f"Wallet {KNOWN_ADDRESS} is verified." in listed
    assert 'data-state="verified"' in listed
    assert "Add as watch-only pool" in listed
    assert PartnerWallet.objects.get().label == "treasury"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "The signature was not made by this address over this challenge"),
        ("ko", "이 서명은 이 주소가 이 챌린지의 메시지에 한 것이 아닙니다."),
    ],
)
def test_a_signature_over_another_message_is_shown_in_the_readers_language(
    owner, language, expected
):
    client = logged_in(owner, language)
    challenge = sign_page(client)
    response = tronlink_post(client, challenge, message="something else")
    assert response.status_code == 400
    assert expected in response.content.decode()
    assert not PartnerWallet.objects.exists()


def test_reused_expired_and_wrong_address_challenges_say_why(owner, settings):
    client = logged_in(owner)
    challenge = sign_page(client)
    assert tronlink_post(client, challenge).status_code == 302
    again = tronlink_post(client, challenge)
    assert again.status_code == 400
    assert "This challenge was already used; ask for a new one." in again.content.decode()
    assert 'id="sign-form"' not in again.content.decode()
    assert client.get(f"{PAGE}sign/{challenge.nonce}/").status_code == 400

    other = sign_page(client)
    wrong = tronlink_post(client, other, address="TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC")
    assert "This challenge was issued for another address." in wrong.content.decode()

    settings.WALLET_CHALLENGE_SECONDS = 0
    expired = sign_page(client)
    response = tronlink_post(client, expired)
    assert response.status_code == 400
    assert "The challenge has expired; ask for a new one." in response.content.decode()


def test_a_page_post_without_a_signature_is_refused_plainly(owner):
    client = logged_in(owner)
    challenge = sign_page(client)
    response = client.post(f"{PAGE}sign/{challenge.nonce}/", {"address": KNOWN_ADDRESS})
    assert response.status_code == 400
    assert "TronLink did not sign the message; try again." in response.content.decode()
    no_address = client.post(f"{PAGE}challenge", {})
    assert no_address.status_code == 302
    assert "TronLink did not give an address" in client.get(PAGE).content.decode()
    bad = client.post(f"{PAGE}challenge", {"address": "TNotAnAddress"})
    assert bad.status_code == 302
    assert "Enter a valid TRON address." in client.get(PAGE).content.decode()
    assert WalletChallenge.objects.count() == 1


@pytest.mark.parametrize("who", ["viewer", "operator"])
def test_viewers_and_operators_see_wallets_but_cannot_link(request, partner, owner, who):
    client = logged_in(request.getfixturevalue(who))
    wallet = PartnerWalletFactory(partner=partner, verified_at=timezone.now())
    page = client.get(PAGE).content.decode()
    assert wallet.address in page
    assert 'id="owners-only"' in page
    assert 'id="connect-form"' not in page
    assert "Add as watch-only pool" not in page
    assert client.post(f"{PAGE}challenge", {"address": KNOWN_ADDRESS}).status_code == 403
    challenge = sign_page(logged_in(owner))
    assert client.get(f"{PAGE}sign/{challenge.nonce}/").status_code == 403
    assert tronlink_post(client, challenge).status_code == 403
    assert client.post(f"{PAGE}{wallet.pk}/pool").status_code == 403
    assert WalletChallenge.objects.get().used_at is None
    assert not EnergyPool.objects.exists()


def test_another_partners_challenge_and_wallet_are_404(partner, owner, outsider):
    wallet = PartnerWalletFactory(partner=partner, verified_at=timezone.now())
    challenge = sign_page(logged_in(owner))
    client = logged_in(outsider)
    assert client.get(f"{PAGE}sign/{challenge.nonce}/").status_code == 404
    assert tronlink_post(client, challenge).status_code == 404
    assert client.post(f"{PAGE}{wallet.pk}/pool").status_code == 404
    assert wallet.address not in client.get(PAGE).content.decode()
    assert WalletChallenge.objects.get().used_at is None


def test_customers_and_strangers_are_kept_out(partner):
    customer = CustomerFactory(partner=partner)
    client = Client()
    client.force_login(customer.user)
    assert client.get(PAGE).status_code == 403
    anonymous = Client().get(PAGE)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/?next=")


def test_the_owner_adds_a_verified_wallet_as_a_pool_from_the_page(devnet, partner, owner):
    devnet.fund(KNOWN_ADDRESS, 5)
    client = logged_in(owner, "ko")
    assert tronlink_post(client, sign_page(client)).status_code == 302
    wallet = PartnerWallet.objects.get()
    response = client.post(f"{PAGE}{wallet.pk}/pool")
    assert response.status_code == 302
    pool = EnergyPool.objects.get()
    assert (pool.address, pool.custody, pool.partner) == (KNOWN_ADDRESS, "watch_only", partner)
    page = client.get(PAGE).content.decode()
    assert f'data-pool="{pool.pk}"' in page
    assert "감시 전용 풀" in page
    # A second press: refused, in Korean, and still one pool.
    client.post(f"{PAGE}{wallet.pk}/pool")
    assert "이 주소는 추가할 수 없습니다" in client.get(PAGE).content.decode()
    assert EnergyPool.objects.count() == 1


def test_the_admin_cannot_mark_a_wallet_verified_by_hand(partner):
    user = UserFactory(is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = verified_client(user, device)
    wallet = PartnerWalletFactory(partner=partner)
    url = f"/admin/partners/partnerwallet/{wallet.pk}/change/"
    response = client.post(
        url,
        {
            "partner": partner.pk,
            "address": wallet.address,
            "label": "edited",
            "verified_at_0": "2026-01-01",
            "verified_at_1": "00:00:00",
            "signature": "ab" * 65,
        },
    )
    assert response.status_code == 302, response.content
    wallet.refresh_from_db()
    assert wallet.label == "edited"
    assert (wallet.verified_at, wallet.signature) == (None, "")
