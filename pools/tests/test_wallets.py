"""Linking a TRON wallet by a signed challenge (partner API), and adding it as a pool."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from tronpy.keys import PrivateKey

from partners.models import PartnerWallet, WalletChallenge
from partners.tests.factories import PartnerWalletFactory
from pools.models import EnergyPool
from pools.services import wallets as service
from pools.services.onboarding import CANNOT_ADD
from pools.tests.factories import EnergyPoolFactory
from pools.tests.test_wallet_signatures import KNOWN_ADDRESS, KNOWN_KEY

pytestmark = pytest.mark.django_db

WALLETS = "/api/v1/wallets/"
CHALLENGE = "/api/v1/wallets/challenge"
VERIFY = "/api/v1/wallets/verify"


def signed(key, message, *, tronweb=True):
    """`signMessageV2`'s answer for `message` (TronWeb's form), or tronpy's raw hex."""
    signature = key.sign_msg(message.encode())
    return "0x" + signature.tronweb_hex() if tronweb else signature.hex()


def issue(client, address=KNOWN_ADDRESS):
    response = client.post(CHALLENGE, {"address": address}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def verify(client, challenge, *, key=KNOWN_KEY, address=KNOWN_ADDRESS, message=None, **extra):
    body = {
        "challenge": challenge["challenge"],
        "address": address,
        "signature": signed(key, challenge["message"] if message is None else message),
        **extra,
    }
    return client.post(VERIFY, body, format="json")


def field_errors(response, status=400):
    assert response.status_code == status, response.content
    return response.json()["error"]["fields"]


@pytest.mark.parametrize("tronweb", [True, False])
def test_owner_links_a_wallet_signed_by_tronpy(partner, owner, owner_client, tronweb):
    challenge = issue(owner_client)
    assert challenge["address"] == KNOWN_ADDRESS
    assert f"Address: {KNOWN_ADDRESS}\n" in challenge["message"]
    assert f"Nonce: {challenge['challenge']}\n" in challenge["message"]
    assert f"Partner: {partner.slug}\n" in challenge["message"]

    signature = signed(KNOWN_KEY, challenge["message"], tronweb=tronweb)
    body = {"challenge": challenge["challenge"], "address": KNOWN_ADDRESS, "signature": signature}
    response = owner_client.post(VERIFY, {**body, "label": "treasury"}, format="json")
    assert response.status_code == 201, response.content
    wallet = response.json()
    assert (wallet["address"], wallet["label"], wallet["pool_id"]) == (
        KNOWN_ADDRESS,
        "treasury",
        None,
    )
    assert wallet["verified_at"] is not None
    assert wallet["verification_message"] == challenge["message"]
    assert wallet["signature"] == signature.removeprefix("0x")
    stored = PartnerWallet.objects.get()
    assert (stored.partner, stored.verified_at is not None) == (partner, True)
    used = WalletChallenge.objects.get()
    assert used.used_at is not None
    assert used.requested_by_id == owner.user_id

    listed = owner_client.get(WALLETS).json()["results"]
    assert [w["id"] for w in listed] == [wallet["id"]]
    assert owner_client.get(f"{WALLETS}{wallet['id']}/").json() == wallet


def test_a_wallet_verified_again_keeps_one_row_with_the_new_proof(partner, owner_client):
    first = verify(owner_client, issue(owner_client), label="cold").json()
    second_challenge = issue(owner_client)
    second = verify(owner_client, second_challenge)
    assert second.status_code == 201
    assert PartnerWallet.objects.count() == 1
    assert second.json()["id"] == first["id"]
    assert second.json()["label"] == "cold"  # no label given: the old one stays
    assert second.json()["verification_message"] == second_challenge["message"]


def test_a_signature_by_another_key_is_refused(owner_client):
    challenge = issue(owner_client)
    response = verify(owner_client, challenge, key=PrivateKey.random())
    assert field_errors(response) == {"signature": [service.SIGNATURE_MISMATCH]}
    assert not PartnerWallet.objects.exists()
    # A refusal does not use the challenge up: the right signature still links the wallet.
    assert verify(owner_client, challenge).status_code == 201


def test_a_claim_for_another_address_is_refused(owner_client):
    other = PrivateKey.random()
    challenge = issue(owner_client)
    response = verify(
        owner_client, challenge, key=other, address=other.public_key.to_base58check_address()
    )
    assert field_errors(response) == {"address": [service.ADDRESS_NOT_CHALLENGED]}
    assert not PartnerWallet.objects.exists()


def test_a_signature_over_another_message_is_refused(owner_client):
    challenge = issue(owner_client)
    other_challenge = issue(owner_client)  # same partner, same address, another nonce
    for message in ("Please sign in", other_challenge["message"]):
        response = verify(owner_client, challenge, message=message)
        assert field_errors(response) == {"signature": [service.SIGNATURE_MISMATCH]}
    assert not PartnerWallet.objects.exists()


def test_an_expired_challenge_is_refused(owner_client, settings):
    settings.WALLET_CHALLENGE_SECONDS = 0  # expired as soon as it is issued
    challenge = issue(owner_client)
    response = verify(owner_client, challenge)
    assert field_errors(response) == {"challenge": [service.CHALLENGE_EXPIRED]}
    assert not PartnerWallet.objects.exists()
    assert WalletChallenge.objects.get().used_at is None


def test_a_used_challenge_cannot_be_used_again(owner_client):
    challenge = issue(owner_client)
    assert verify(owner_client, challenge).status_code == 201
    verified_at = PartnerWallet.objects.get().verified_at
    response = verify(owner_client, challenge)
    assert field_errors(response) == {"challenge": [service.CHALLENGE_USED]}
    assert PartnerWallet.objects.get().verified_at == verified_at


@pytest.mark.django_db(transaction=True)
def test_twin_verifications_at_once_link_the_wallet_once(partner):
    """Eight verifications of one challenge at the same moment: the compare-and-set lets
    exactly one through; every other is told the challenge was used."""
    issued = service.wallet_challenge_issue(partner=partner, address=KNOWN_ADDRESS)
    signature = signed(KNOWN_KEY, issued.message)
    start = threading.Barrier(8)

    def attempt(_):
        start.wait()
        try:
            service.wallet_verify(
                partner=partner, nonce=issued.nonce, address=KNOWN_ADDRESS, signature_hex=signature
            )
            return "linked"
        except ValidationError as exc:
            return exc.message_dict["challenge"][0]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(attempt, range(8)))
    assert outcomes == [service.CHALLENGE_USED] * 7 + ["linked"]
    assert PartnerWallet.objects.filter(verified_at__isnull=False).count() == 1


def test_expired_challenges_are_cleared_and_open_ones_are_capped(partner, owner_client, settings):
    settings.WALLET_CHALLENGE_SECONDS = 0
    issue(owner_client)
    settings.WALLET_CHALLENGE_SECONDS = 300
    for _ in range(service.MAX_OPEN_CHALLENGES):
        issue(owner_client)
    assert WalletChallenge.objects.count() == service.MAX_OPEN_CHALLENGES  # the expired one went
    response = owner_client.post(CHALLENGE, {"address": KNOWN_ADDRESS}, format="json")
    assert field_errors(response) == {"non_field_errors": [service.TOO_MANY_CHALLENGES]}


# --- personas --------------------------------------------------------------------------


def test_another_partners_challenge_is_unknown(owner_client, outsider_client):
    challenge = issue(owner_client)
    response = verify(outsider_client, challenge)
    assert field_errors(response) == {"challenge": [service.CHALLENGE_UNKNOWN]}
    assert WalletChallenge.objects.get().used_at is None


def test_another_partners_wallet_is_a_404(partner, other_partner, outsider_client, devnet):
    wallet = PartnerWalletFactory(partner=partner, verified_at=timezone.now())
    PartnerWalletFactory(partner=other_partner)
    assert outsider_client.get(f"{WALLETS}{wallet.pk}/").status_code == 404
    response = outsider_client.post(f"{WALLETS}{wallet.pk}/pool", {}, format="json")
    assert response.status_code == 404
    listed = outsider_client.get(WALLETS).json()["results"]
    assert wallet.pk not in [w["id"] for w in listed]
    assert not EnergyPool.objects.exists()


@pytest.mark.parametrize("who", ["viewer_client", "key_client"])  # a viewer; an operator key
def test_only_owners_link_wallets_or_add_them_as_pools(request, partner, owner_client, who):
    client = request.getfixturevalue(who)
    wallet = PartnerWalletFactory(partner=partner, verified_at=timezone.now())
    assert client.get(WALLETS).status_code == 200  # reading is every role's
    response = client.post(CHALLENGE, {"address": KNOWN_ADDRESS}, format="json")
    assert response.status_code == 403
    challenge = issue(owner_client)
    assert verify(client, challenge).status_code == 403
    assert client.post(f"{WALLETS}{wallet.pk}/pool", {}, format="json").status_code == 403
    assert WalletChallenge.objects.get().used_at is None
    assert not EnergyPool.objects.exists()


def test_anonymous_callers_are_refused(client):
    assert client.get(WALLETS).status_code == 401
    assert client.post(CHALLENGE, {"address": KNOWN_ADDRESS}).status_code == 401
    assert not WalletChallenge.objects.exists()


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "address"),
        ({"address": ""}, "address"),
        ({"address": "TNotAnAddress"}, "address"),
        ({"address": KNOWN_ADDRESS[:-1] + "X"}, "address"),  # checksum
        ({"address": KNOWN_ADDRESS, "partner": 1}, "partner"),
        ([KNOWN_ADDRESS], "non_field_errors"),
    ],
)
def test_bad_challenge_input_is_400(owner_client, payload, field):
    response = owner_client.post(CHALLENGE, payload, format="json")
    assert field in field_errors(response)
    assert not WalletChallenge.objects.exists()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"signature": "zz"}, "signature", service.SIGNATURE_MALFORMED),
        ({"signature": "0x" + "11" * 64 + "05"}, "signature", service.SIGNATURE_MALFORMED),
        ({"signature": ""}, "signature", None),
        ({"signature": "ab" * 70}, "signature", None),
        ({"challenge": "0" * 32}, "challenge", service.CHALLENGE_UNKNOWN),
        ({"challenge": ""}, "challenge", None),
        ({"address": "TNotAnAddress"}, "address", service.ADDRESS_NOT_CHALLENGED),
        ({"verified": True}, "verified", None),
    ],
)
def test_bad_verify_input_is_400_and_changes_nothing(owner_client, change, field, message):
    challenge = issue(owner_client)
    body = {
        "challenge": challenge["challenge"],
        "address": KNOWN_ADDRESS,
        "signature": signed(KNOWN_KEY, challenge["message"]),
        **change,
    }
    errors = field_errors(owner_client.post(VERIFY, body, format="json"))
    assert field in errors
    if message is not None:
        assert errors[field] == [message]
    assert not PartnerWallet.objects.exists()
    assert WalletChallenge.objects.get().used_at is None


def test_missing_verify_fields_are_400(owner_client):
    errors = field_errors(owner_client.post(VERIFY, {}, format="json"))
    assert set(errors) == {"challenge", "address", "signature"}


# --- one step to a watch-only pool ----------------------------------------------------


def test_a_verified_wallet_becomes_a_watch_only_pool_in_one_step(devnet, partner, owner_client):
    devnet.fund(KNOWN_ADDRESS, 42)
    wallet = verify(owner_client, issue(owner_client), label="treasury").json()
    response = owner_client.post(f"{WALLETS}{wallet['id']}/pool", {}, format="json")
    assert response.status_code == 201, response.content
    pool = response.json()
    assert (pool["address"], pool["custody"], pool["label"]) == (
        KNOWN_ADDRESS,
        "watch_only",
        "treasury",
    )
    assert pool["trx_balance_sun"] == 42_000_000  # synced from the chain once
    assert EnergyPool.objects.get().partner == partner
    assert owner_client.get(f"{WALLETS}{wallet['id']}/").json()["pool_id"] == pool["id"]
    again = owner_client.post(f"{WALLETS}{wallet['id']}/pool", {}, format="json")
    assert field_errors(again) == {"address": [CANNOT_ADD]}
    assert EnergyPool.objects.count() == 1


def test_an_unverified_wallet_cannot_become_a_pool(devnet, partner, owner_client):
    wallet = PartnerWalletFactory(partner=partner, address=KNOWN_ADDRESS)
    devnet.fund(KNOWN_ADDRESS, 10)
    response = owner_client.post(f"{WALLETS}{wallet.pk}/pool", {}, format="json")
    assert field_errors(response) == {"non_field_errors": [service.WALLET_NOT_VERIFIED]}
    assert not EnergyPool.objects.exists()


def test_a_wallet_not_on_chain_cannot_become_a_pool(devnet, partner, owner_client):
    wallet = verify(owner_client, issue(owner_client)).json()  # never funded on the devnet
    response = owner_client.post(f"{WALLETS}{wallet['id']}/pool", {"label": "x"}, format="json")
    assert field_errors(response) == {"address": [CANNOT_ADD]}
    bad = owner_client.post(f"{WALLETS}{wallet['id']}/pool", {"custody": "x"}, format="json")
    assert "custody" in field_errors(bad)
    assert not EnergyPool.objects.exists()


def test_the_wallet_list_costs_the_same_queries_for_any_length(
    partner, owner_client, django_assert_num_queries
):
    def count_for(n):
        PartnerWallet.objects.all().delete()
        for wallet in PartnerWalletFactory.create_batch(n, partner=partner):
            EnergyPoolFactory(partner=partner, address=wallet.address)
        with django_assert_num_queries(QUERIES) as captured:
            response = owner_client.get(WALLETS)
        assert response.status_code == 200
        assert len(response.json()["results"]) == n
        assert all(w["pool_id"] is not None for w in response.json()["results"])
        return len(captured.captured_queries)

    assert count_for(1) == count_for(25)


# session, user, membership, count, page
QUERIES = 5
