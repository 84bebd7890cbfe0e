"""Emergency withdrawals on the devnet: quote, pay (TRX balance or a verified on-chain
payment), send from the stake-less emergency wallet, the burn recorded."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from tronpy.keys import PrivateKey

from alerts.models import EnergyAlert
from common.idempotency import IdempotencyInFlight, IdempotencyMismatch
from partners.tests.factories import CustomerFactory
from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD, USDT_TRANSFER_ENERGY_WARM
from pools.models import EnergyPool, EnergyUsageLog
from pools.services.keys import signing_key_import
from pools.tests.factories import EnergyPoolFactory
from pools.tests.test_chain_client import KeySigner
from withdrawals.models import Balance, EmergencyFee, Withdrawal
from withdrawals.services.balances import balance_credit
from withdrawals.services.emergency import (
    emergency_fee_refund,
    emergency_quote,
    emergency_quotes_expire,
)
from withdrawals.services.requests import withdrawal_request
from withdrawals.services.sending import withdrawals_drive
from withdrawals.tests.test_sending import drive_until_final

pytestmark = pytest.mark.django_db

URL = "/api/v1/energy/emergency-withdrawal"  # deprecated: both operations, chosen by `action`
QUOTE_URL = f"{URL}/quote"
CONFIRM_URL = f"{URL}/confirm"
COLD_FEE = USDT_TRANSFER_ENERGY_COLD * 100 + 345 * 1000  # sun: 13.3735 TRX


def emergency_wallet(devnet, partner, *, usdt):
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 500)
    if usdt:
        devnet.mint(address, usdt)
    signing_key_import(private_key_hex=key.hex())
    return EnergyPoolFactory(
        partner=partner,
        address=address,
        energy_limit=0,
        custody=EnergyPool.Custody.CUSTODIAL,
        role=EnergyPool.Role.EMERGENCY,
    )


@pytest.fixture
def wallet(devnet, partner):
    return emergency_wallet(devnet, partner, usdt=10_000)


@pytest.fixture
def customer(partner):
    customer = CustomerFactory(partner=partner)
    balance_credit(
        customer=customer, currency="USDT", amount=Decimal("100"), idempotency_key="usdt"
    )
    balance_credit(customer=customer, currency="TRX", amount=Decimal("50"), idempotency_key="trx")
    return customer


def new_address():
    return PrivateKey.random().public_key.to_base58check_address()


def quote(client, customer, to=None, amount="10"):
    return client.post(
        QUOTE_URL,
        {
            "customer_id": customer.pk,
            "to_address": to or new_address(),
            "amount": amount,
        },
        format="json",
    )


def confirm(client, withdrawal_id, **payment):
    return client.post(CONFIRM_URL, {"withdrawal_id": withdrawal_id, **payment}, format="json")


def balances(customer):
    return {b.currency: (b.available, b.held) for b in Balance.objects.filter(customer=customer)}


def test_quote_states_its_inputs(devnet, wallet, customer, key_client):
    cold = quote(key_client, customer).json()
    assert (cold["energy_estimate"], cold["energy_fee_sun"]) == (USDT_TRANSFER_ENERGY_COLD, 100)
    assert (cold["bandwidth_estimate"], cold["bandwidth_fee_sun"]) == (345, 1000)
    assert cold["quoted_fee_sun"] == COLD_FEE
    assert cold["quoted_fee_trx"] == "13.373500"
    assert cold["pay_to"] == wallet.address
    assert cold["withdrawal"]["status"] == "requested"
    holder = new_address()
    devnet.mint(holder, 1)
    warm = quote(key_client, customer, to=holder).json()
    assert warm["energy_estimate"] == USDT_TRANSFER_ENERGY_WARM
    assert warm["recipient_holds_usdt"] is True
    assert balances(customer)["USDT"] == (Decimal("100"), Decimal("0"))  # nothing held yet


def test_paid_from_the_trx_balance_and_sent_by_burning(devnet, wallet, customer, key_client):
    to = new_address()
    withdrawal_id = quote(key_client, customer, to=to).json()["withdrawal"]["id"]
    response = confirm(key_client, withdrawal_id, paid_with="balance")
    assert response.status_code == 200, response.content
    assert balances(customer) == {
        "USDT": (Decimal("90"), Decimal("10")),
        "TRX": (Decimal("36.6265"), Decimal("13.3735")),
    }
    withdrawals_drive()
    devnet.mine()
    withdrawals_drive()
    withdrawal = Withdrawal.objects.get(pk=withdrawal_id)
    assert withdrawal.status == "confirmed"
    assert chain_client().usdt_balance(to) == 10_000_000
    assert withdrawal.trx_burned_sun >= USDT_TRANSFER_ENERGY_COLD * 100  # burned, no stake
    log = EnergyUsageLog.objects.get(withdrawal=withdrawal)
    assert (log.kind, log.energy_used, log.trx_burned_sun) == (
        "emergency",
        0,
        withdrawal.trx_burned_sun,
    )
    assert balances(customer) == {
        "USDT": (Decimal("90"), Decimal("0")),
        "TRX": (Decimal("36.6265"), Decimal("0")),
    }


def pay_on_chain(devnet, wallet, trx, to=None):
    payer = KeySigner(PrivateKey.random())
    devnet.fund(payer.address, 100)
    client = chain_client()
    unsigned = client.build_trx_transfer(
        owner=payer.address, to=to or wallet.address, amount_sun=int(trx * 1_000_000)
    )
    assert client.broadcast(client.sign(unsigned, payer)).accepted
    devnet.mine()
    return unsigned.txid


def test_paid_on_chain_verified_and_never_reused(devnet, wallet, customer, key_client):
    withdrawal_id = quote(key_client, customer).json()["withdrawal"]["id"]
    txid = pay_on_chain(devnet, wallet, Decimal("13.3735"))
    response = confirm(key_client, withdrawal_id, paid_with="onchain", payment_txid=txid)
    assert response.status_code == 200, response.content
    assert response.json()["payment_txid"] == txid
    assert balances(customer)["TRX"] == (Decimal("50"), Decimal("0"))  # not charged twice
    assert (
        confirm(key_client, withdrawal_id, paid_with="onchain", payment_txid=txid).status_code
        == 200
    )  # idempotent
    second = quote(key_client, customer).json()["withdrawal"]["id"]
    reused = confirm(key_client, second, paid_with="onchain", payment_txid=txid)
    assert reused.status_code == 400
    assert "already used" in reused.json()["error"]["fields"]["payment_txid"][0]
    assert Withdrawal.objects.get(pk=second).status == "requested"


@pytest.mark.parametrize(
    ("trx", "elsewhere", "message"),
    [(Decimal("13"), False, "less than the quoted fee"), (Decimal("20"), True, "another address")],
)
def test_bad_on_chain_payments_change_nothing(
    devnet, wallet, customer, key_client, trx, elsewhere, message
):
    withdrawal_id = quote(key_client, customer).json()["withdrawal"]["id"]
    txid = pay_on_chain(devnet, wallet, trx, to=new_address() if elsewhere else None)
    response = confirm(key_client, withdrawal_id, paid_with="onchain", payment_txid=txid)
    assert response.status_code == 400
    assert message in response.json()["error"]["fields"]["payment_txid"][0]
    assert Withdrawal.objects.get(pk=withdrawal_id).status == "requested"
    assert not EmergencyFee.objects.filter(payment_txid=txid).exists()


def test_unknown_or_unconfirmed_payment_is_refused(devnet, wallet, customer, key_client):
    withdrawal_id = quote(key_client, customer).json()["withdrawal"]["id"]
    unknown = confirm(key_client, withdrawal_id, paid_with="onchain", payment_txid="ab" * 32)
    assert unknown.status_code == 400
    assert confirm(key_client, withdrawal_id, paid_with="onchain").status_code == 400


def test_expired_quote_and_short_balance_are_refused(devnet, wallet, customer, key_client):
    first = quote(key_client, customer).json()["withdrawal"]["id"]
    EmergencyFee.objects.filter(withdrawal_id=first).update(
        expires_at=EmergencyFee.objects.get(withdrawal_id=first).created_at
    )
    expired = confirm(key_client, first, paid_with="balance")
    assert expired.status_code == 400
    assert "quote" in expired.json()["error"]["fields"]
    Balance.objects.filter(customer=customer, currency="TRX").update(available=Decimal("5"))
    second = quote(key_client, customer).json()["withdrawal"]["id"]
    short = confirm(key_client, second, paid_with="balance")
    assert short.status_code == 400
    assert "paid_with" in short.json()["error"]["fields"]
    assert balances(customer)["USDT"] == (Decimal("100"), Decimal("0"))


def test_outsiders_and_partners_without_a_wallet(
    devnet, wallet, customer, key_client, outsider_key_client, viewer_client
):
    withdrawal_id = quote(key_client, customer).json()["withdrawal"]["id"]
    assert confirm(outsider_key_client, withdrawal_id, paid_with="balance").status_code == 404
    assert quote(outsider_key_client, customer).status_code == 404
    assert quote(viewer_client, customer).status_code == 403
    EnergyPool.objects.filter(pk=wallet.pk).update(status=EnergyPool.Status.PAUSED)
    assert quote(key_client, customer).status_code == 400


def test_an_unpaid_quote_is_cancelled_when_it_expires(devnet, wallet, customer, key_client):
    from withdrawals.services.audit import expire_and_audit

    withdrawal_id = quote(key_client, customer).json()["withdrawal"]["id"]
    expire_and_audit()
    assert Withdrawal.objects.get(pk=withdrawal_id).status == "requested"  # still valid
    fee = EmergencyFee.objects.get(withdrawal_id=withdrawal_id)
    EmergencyFee.objects.filter(pk=fee.pk).update(expires_at=fee.created_at)
    expire_and_audit()
    # Expired, but an on-chain payment made just in time may still be solidifying.
    assert Withdrawal.objects.get(pk=withdrawal_id).status == "requested"
    assert confirm(key_client, withdrawal_id, paid_with="balance").status_code == 400
    grace = timedelta(seconds=settings.EMERGENCY_PAYMENT_GRACE_SECONDS)
    EmergencyFee.objects.filter(pk=fee.pk).update(expires_at=fee.created_at - grace)
    expire_and_audit()
    assert Withdrawal.objects.get(pk=withdrawal_id).status == "cancelled"
    assert confirm(key_client, withdrawal_id, paid_with="balance").status_code == 400


def test_an_on_chain_payment_made_in_time_is_accepted_after_the_quote_expires(
    devnet, wallet, customer, key_client
):
    """It solidifies about a minute after it is made; the chain's clock decides."""
    withdrawal_id = quote(key_client, customer).json()["withdrawal"]["id"]
    txid = pay_on_chain(devnet, wallet, Decimal("13.3735"))
    paid_ms = chain_client().trx_payment(txid).block_timestamp_ms
    paid_at = datetime.fromtimestamp(paid_ms / 1000, tz=UTC)
    EmergencyFee.objects.filter(withdrawal_id=withdrawal_id).update(
        expires_at=paid_at + timedelta(milliseconds=1)
    )
    response = confirm(key_client, withdrawal_id, paid_with="onchain", payment_txid=txid)
    assert response.status_code == 200, response.content
    assert Withdrawal.objects.get(pk=withdrawal_id).status == "reserved"
    # A payment made after the quote expired is refused, and changes nothing.
    late = quote(key_client, customer).json()["withdrawal"]["id"]
    # Blocks carry their 3 s slot's start time, so a block mined now may be stamped up to a
    # slot earlier: the quote expired two slots before the payment's block, whatever its slot.
    EmergencyFee.objects.filter(withdrawal_id=late).update(
        expires_at=timezone.now() - timedelta(seconds=6)
    )
    txid = pay_on_chain(devnet, wallet, Decimal("13.3735"))
    refused = confirm(key_client, late, paid_with="onchain", payment_txid=txid)
    assert refused.status_code == 400
    assert "within the quote" in refused.json()["error"]["fields"]["payment_txid"][0]
    assert Withdrawal.objects.get(pk=late).status == "requested"


def test_a_key_answers_only_the_request_it_was_made_for(devnet, wallet, customer, partner):
    to = new_address()
    first = emergency_quote(
        customer=customer, to_address=to, amount=Decimal("5"), idempotency_key="k"
    )
    again = emergency_quote(
        customer=customer, to_address=to, amount=Decimal("5"), idempotency_key="k"
    )
    assert again.pk == first.pk
    other_customer = CustomerFactory(partner=partner)
    for kwargs in (
        {"customer": customer, "to_address": new_address(), "amount": Decimal("5")},
        {"customer": customer, "to_address": to, "amount": Decimal("6")},
        {"customer": other_customer, "to_address": to, "amount": Decimal("5")},
    ):
        with pytest.raises(IdempotencyMismatch):
            emergency_quote(idempotency_key="k", **kwargs)
    with pytest.raises(IdempotencyMismatch):  # nor a standard withdrawal under the same key
        withdrawal_request(
            customer=customer, to_address=to, amount=Decimal("5"), idempotency_key="k"
        )
    assert Withdrawal.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_twin_quotes_sent_at_once_make_one(devnet, wallet, customer):
    to = new_address()
    devnet.faults(latency_ms=300)  # both pass the first look before either inserts
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:

            def twin(_: int) -> int | None:
                try:
                    return emergency_quote(
                        customer=customer, to_address=to, amount=Decimal("5"), idempotency_key="t"
                    ).pk
                except IdempotencyInFlight:  # its twin was recording at that instant
                    return None
                finally:
                    connection.close()

            fees = list(pool.map(twin, range(2)))
    finally:
        devnet.clear_faults()
    made = {fee for fee in fees if fee is not None}
    assert len(made) == 1
    assert Withdrawal.objects.filter(idempotency_key="t").count() == 1


@pytest.fixture
def broke_wallet(devnet, partner):
    """An emergency wallet with TRX to burn but no USDT: its transfers revert."""
    return emergency_wallet(devnet, partner, usdt=0)


@pytest.mark.parametrize("paid_with", ["balance", "onchain"])
def test_a_failed_emergency_withdrawal_gives_the_fee_back(
    devnet, broke_wallet, customer, key_client, paid_with
):
    """A revert is the platform's failure (an empty hot wallet): the user gets the USDT and
    the fee back, whichever way it was paid; the platform bears the burn."""
    withdrawal_id = quote(key_client, customer).json()["withdrawal"]["id"]
    payment = {}
    if paid_with == "onchain":
        payment["payment_txid"] = pay_on_chain(devnet, broke_wallet, Decimal("13.3735"))
    assert confirm(key_client, withdrawal_id, paid_with=paid_with, **payment).status_code == 200
    withdrawal = drive_until_final(devnet, Withdrawal.objects.get(pk=withdrawal_id))
    assert withdrawal.status == "failed"
    assert "REVERT" in withdrawal.failure_reason
    assert withdrawal.trx_burned_sun > 0
    trx_back = Decimal("63.3735") if paid_with == "onchain" else Decimal("50")
    assert balances(customer) == {
        "USDT": (Decimal("100"), Decimal("0")),
        "TRX": (trx_back, Decimal("0")),
    }
    assert not emergency_fee_refund(withdrawal=withdrawal)  # once
    assert balances(customer)["TRX"] == (trx_back, Decimal("0"))
    message = EnergyAlert.objects.get(kind="withdrawal_failed").message
    assert ("fee payment credited back" in message) == (paid_with == "onchain")


@pytest.mark.django_db(transaction=True)
def test_the_expiry_job_never_cancels_a_withdrawal_being_paid(devnet, wallet, customer):
    """A confirm holding the withdrawal's lock (paid, reserved, not yet committed) and the
    expiry job waiting for it: the job must see the new status, not its old snapshot."""
    import threading

    from django.db import transaction

    from conftest import wait_for_a_blocked_query

    fee = emergency_quote(customer=customer, to_address=new_address(), amount=Decimal("5"))
    grace = timedelta(seconds=settings.EMERGENCY_PAYMENT_GRACE_SECONDS + 1)
    EmergencyFee.objects.filter(pk=fee.pk).update(expires_at=timezone.now() - grace)

    def confirm_like() -> None:
        try:
            with transaction.atomic():
                Withdrawal.objects.select_for_update().get(pk=fee.withdrawal_id)
                EmergencyFee.objects.filter(pk=fee.pk).update(
                    paid_at=timezone.now(), paid_with="onchain", payment_txid="a" * 64
                )
                Withdrawal.objects.filter(pk=fee.withdrawal_id).update(status="reserved")
                paid.set()
                wait_for_a_blocked_query()  # the expiry job waits for this row
        finally:
            connection.close()

    paid = threading.Event()
    confirming = threading.Thread(target=confirm_like)
    confirming.start()
    assert paid.wait(10)
    cancelled = emergency_quotes_expire()
    confirming.join()
    assert cancelled == 0
    assert Withdrawal.objects.get(pk=fee.withdrawal_id).status == "reserved"


def test_a_cancelled_withdrawal_gives_an_on_chain_fee_back(devnet, wallet, customer, key_client):
    withdrawal_id = quote(key_client, customer).json()["withdrawal"]["id"]
    txid = pay_on_chain(devnet, wallet, Decimal("13.3735"))
    assert confirm(key_client, withdrawal_id, paid_with="onchain", payment_txid=txid).status_code
    cancelled = key_client.post(f"/api/v1/withdrawals/{withdrawal_id}/cancel")
    assert cancelled.status_code == 200, cancelled.content
    assert balances(customer) == {
        "USDT": (Decimal("100"), Decimal("0")),
        "TRX": (Decimal("63.3735"), Decimal("0")),
    }


def test_a_payment_made_in_time_for_a_quote_given_up_is_credited(
    devnet, wallet, customer, key_client
):
    withdrawal_id = quote(key_client, customer).json()["withdrawal"]["id"]
    txid = pay_on_chain(devnet, wallet, Decimal("13.3735"))
    Withdrawal.objects.filter(pk=withdrawal_id).update(status="cancelled")  # as the expiry job
    for _ in range(2):  # the same answer every time, credited once
        response = confirm(key_client, withdrawal_id, paid_with="onchain", payment_txid=txid)
        assert response.status_code == 400
        assert "credited to the TRX balance" in response.json()["error"]["fields"]["status"][0]
    assert balances(customer)["TRX"] == (Decimal("63.3735"), Decimal("0"))
    assert Withdrawal.objects.get(pk=withdrawal_id).status == "cancelled"
    reused = confirm(
        key_client,
        quote(key_client, customer).json()["withdrawal"]["id"],
        paid_with="onchain",
        payment_txid=txid,
    )
    assert "already used" in reused.json()["error"]["fields"]["payment_txid"][0]


def test_partners_cannot_use_the_platforms_own_keys(customer, key_client):
    response = key_client.post(
        f"/api/v1/users/{customer.pk}/credits",
        {"currency": "TRX", "amount": "1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="platform:emergency-refund:1",
    )
    assert response.status_code == 400
    assert "reserved" in response.json()["error"]["fields"]["idempotency_key"][0]
    assert balances(customer)["TRX"] == (Decimal("50"), Decimal("0"))


def test_the_deprecated_combined_endpoint_still_quotes_and_confirms(
    devnet, wallet, customer, key_client
):
    """`POST …/emergency-withdrawal` with `action` is the same two operations as `…/quote`
    and `…/confirm`; those two take no `action`."""
    body = {"customer_id": customer.pk, "to_address": new_address(), "amount": "10"}
    refused = key_client.post(QUOTE_URL, {"action": "quote", **body}, format="json")
    assert refused.status_code == 400
    assert "action" in refused.json()["error"]["fields"]
    quoted = key_client.post(URL, {"action": "quote", **body}, format="json")
    assert quoted.status_code == 201, quoted.content
    withdrawal_id = quoted.json()["withdrawal"]["id"]
    assert quoted.json()["withdrawal"]["mode"] == "emergency"
    payment = {"withdrawal_id": withdrawal_id, "paid_with": "balance"}
    assert (
        key_client.post(CONFIRM_URL, {"action": "confirm", **payment}, format="json").status_code
        == 400
    )
    confirmed = key_client.post(URL, {"action": "confirm", **payment}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["paid_with"] == "balance"
    again = key_client.post(CONFIRM_URL, payment, format="json")  # the same payment: stored
    assert again.status_code == 200
    assert again.json()["paid_at"] == confirmed.json()["paid_at"]
    assert balances(customer)["USDT"] == (Decimal("90"), Decimal("10"))
