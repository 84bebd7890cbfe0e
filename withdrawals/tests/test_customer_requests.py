"""The customer's requests as one call each: every refusal arrives as one `Refused`, which
says whether the same request may be sent again, and nothing changes because of it."""

from decimal import Decimal

import pytest

from pools.tests.test_chain_client import dead_url
from withdrawals.models import Balance, EmergencyFee, Withdrawal
from withdrawals.services.balances import balance_credit
from withdrawals.services.customer_requests import Refused, emergency_pay, withdrawal_submit
from withdrawals.tests.test_emergency import emergency_wallet
from withdrawals.tests.test_pages import recipient

pytestmark = pytest.mark.django_db

STANDARD, EMERGENCY = Withdrawal.Mode.STANDARD, Withdrawal.Mode.EMERGENCY
SHORT = "does not cover this amount."


def submit(customer, *, mode=STANDARD, key="k1", amount="5", to=None):
    return withdrawal_submit(
        customer=customer,
        to_address=to or recipient(),
        amount=Decimal(amount),
        mode=mode,
        idempotency_key=key,
    )


def test_standard_and_emergency_once_per_key(shop, devnet, partner):
    _client, customer, _ = shop
    emergency_wallet(devnet, partner, usdt=100)
    to = recipient()
    standard = submit(customer, to=to)
    assert submit(customer, to=to) == standard
    assert standard.status == "reserved"
    quoted = submit(customer, mode=EMERGENCY, key="k2", to=to)
    assert submit(customer, mode=EMERGENCY, key="k2", to=to) == quoted
    assert (quoted.mode, quoted.status) == ("emergency", "requested")
    assert Withdrawal.objects.count() == 2


@pytest.mark.parametrize(
    ("request_kwargs", "code", "errors"),
    [
        (
            {"amount": "1000"},
            "invalid",
            {"amount": ["The USDT balance does not cover this amount."]},
        ),
        (
            {"mode": EMERGENCY},
            "invalid",
            {"non_field_errors": ["The partner has no emergency wallet to send from."]},
        ),
        ({"amount": "6"}, "mismatch", None),  # key k0 again, for another amount
    ],
)
def test_refusals_are_typed_and_change_nothing(shop, request_kwargs, code, errors):
    _client, customer, _ = shop
    first = submit(customer, key="k0")
    before = list(Balance.objects.values_list("available", "held"))
    with pytest.raises(Refused) as refused:
        submit(customer, key="k0" if code == "mismatch" else "k9", **request_kwargs)
    assert refused.value.code == code
    assert not refused.value.same_key_again
    if errors is not None:
        assert refused.value.errors == errors
    assert list(Withdrawal.objects.all()) == [first]
    assert list(Balance.objects.values_list("available", "held")) == before


def test_a_silent_node_may_be_asked_again_with_the_same_key(shop, settings):
    _client, customer, _ = shop
    settings.TRON_NODE_URLS = [dead_url()]
    with pytest.raises(Refused) as refused:
        submit(customer)
    assert (refused.value.code, refused.value.same_key_again) == ("unavailable", True)
    assert not Withdrawal.objects.exists()


def test_paying_a_standard_withdrawal_or_twice_differently(shop, devnet, partner):
    _client, customer, _ = shop
    standard = submit(customer)
    with pytest.raises(Refused) as refused:
        emergency_pay(withdrawal=standard, paid_with=EmergencyFee.PaidWith.BALANCE)
    assert refused.value.errors == {"non_field_errors": ["Not an emergency withdrawal."]}
    emergency_wallet(devnet, partner, usdt=100)
    balance_credit(customer=customer, currency="TRX", amount=Decimal("20"), idempotency_key="t")
    quoted = submit(customer, mode=EMERGENCY, key="k2")
    paid = emergency_pay(withdrawal=quoted, paid_with=EmergencyFee.PaidWith.BALANCE)
    assert paid.status == "reserved"
    assert emergency_pay(withdrawal=quoted, paid_with=EmergencyFee.PaidWith.BALANCE) == paid
    with pytest.raises(Refused) as again:
        emergency_pay(
            withdrawal=quoted, paid_with=EmergencyFee.PaidWith.ONCHAIN, payment_txid="ab" * 32
        )
    assert again.value.errors == {"non_field_errors": ["This withdrawal is already paid."]}
