"""The database itself rejects bad rows, whatever code writes them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.tests.factories import EnergyAlertFactory
from operations.tests.factories import JobLockFactory
from partners.tests.factories import APIKeyFactory, CustomerFactory, PartnerFactory
from pools.models import EnergyPool
from pools.tests.factories import (
    EnergyPoolFactory,
    EnergyUsageLogFactory,
    PriceQuoteFactory,
    ReservationFactory,
)
from predictions.tests.factories import EnergyPredictionFactory
from withdrawals.models import Attempt
from withdrawals.tests.factories import (
    AttemptFactory,
    BalanceFactory,
    EmergencyFeeFactory,
    HoldFactory,
    QueueEntryFactory,
    WithdrawalFactory,
)

pytestmark = pytest.mark.django_db


def rejected(factory, **kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**kwargs)
    return True


@pytest.mark.parametrize("amount", [Decimal(0), Decimal("-0.000001"), Decimal(-5)])
def test_withdrawal_amount_must_be_positive(amount):
    assert rejected(WithdrawalFactory, amount=amount)


def test_other_positive_amounts():
    assert rejected(HoldFactory, amount=Decimal(0))
    assert rejected(EmergencyFeeFactory, quoted_fee_sun=0)
    assert rejected(ReservationFactory, estimated_energy=0)
    assert rejected(QueueEntryFactory, energy_needed=-1)
    assert rejected(PriceQuoteFactory, price_sun=Decimal(0))
    assert rejected(AttemptFactory, fee_limit_sun=0)


def test_balances_never_negative():
    assert rejected(BalanceFactory, available=Decimal("-0.01"))
    assert rejected(BalanceFactory, held=Decimal("-1"))


def test_balance_one_row_per_customer_and_currency():
    balance = BalanceFactory()
    assert rejected(BalanceFactory, customer=balance.customer, currency=balance.currency)


def test_pool_address_is_unique():
    pool = EnergyPoolFactory()
    assert rejected(EnergyPoolFactory, address=pool.address)


def test_reserved_energy_never_negative():
    pool = EnergyPoolFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        EnergyPool.objects.filter(pk=pool.pk).update(reserved_energy=-1)
    pool.refresh_from_db()
    assert pool.reserved_energy == 0


def test_pool_chain_numbers_never_negative():
    assert rejected(EnergyPoolFactory, energy_used=-1)
    assert rejected(EnergyPoolFactory, trx_balance_sun=-1)


def test_pool_thresholds_within_percent():
    assert rejected(EnergyPoolFactory, warning_threshold=Decimal(0))
    assert rejected(EnergyPoolFactory, emergency_threshold=Decimal("100.01"))


def test_partner_thresholds_ordered():
    assert rejected(PartnerFactory, warning_threshold=Decimal(96), critical_threshold=Decimal(95))
    assert rejected(PartnerFactory, emergency_threshold=Decimal(101))


def test_attempt_txid_unique_and_hex():
    attempt = AttemptFactory(state=Attempt.State.DEAD)
    assert rejected(AttemptFactory, txid=attempt.txid)
    assert rejected(AttemptFactory, txid="not-a-txid")


def test_usage_log_and_payment_txids_unique():
    log = EnergyUsageLogFactory(txid="ab" * 32)
    assert rejected(EnergyUsageLogFactory, txid=log.txid)
    fee = EmergencyFeeFactory(payment_txid="cd" * 32)
    assert rejected(EmergencyFeeFactory, payment_txid=fee.payment_txid)


def test_idempotency_key_unique_per_partner_only():
    first = WithdrawalFactory(idempotency_key="order-1")
    assert rejected(WithdrawalFactory, partner=first.partner, idempotency_key="order-1")
    # Another partner may use the same key, and rows without a key never collide.
    WithdrawalFactory(idempotency_key="order-1")
    WithdrawalFactory(partner=first.partner, idempotency_key=None)
    WithdrawalFactory(partner=first.partner, idempotency_key=None)


def test_one_open_alert_per_pool_and_kind():
    alert = EnergyAlertFactory()
    assert rejected(EnergyAlertFactory, pool=alert.pool, kind=alert.kind)
    # Another kind on the same pool is fine; so is a new one once the first is resolved.
    EnergyAlertFactory(pool=alert.pool, kind="stale_sync")
    alert.resolved_at = timezone.now()
    alert.save()
    EnergyAlertFactory(pool=alert.pool, kind=alert.kind)


def test_one_open_partner_wide_alert_per_kind():
    partner = PartnerFactory()
    EnergyAlertFactory(pool=None, partner=partner, kind="node_unreachable")
    assert rejected(EnergyAlertFactory, pool=None, partner=partner, kind="node_unreachable")


def test_one_possibly_live_attempt_per_withdrawal():
    withdrawal = WithdrawalFactory()
    AttemptFactory(withdrawal=withdrawal, state=Attempt.State.BROADCAST)
    assert rejected(AttemptFactory, withdrawal=withdrawal, state=Attempt.State.SIGNED)
    AttemptFactory(withdrawal=withdrawal, state=Attempt.State.DEAD)


def test_one_pending_reservation_per_withdrawal():
    reservation = ReservationFactory()
    assert rejected(ReservationFactory, pool=reservation.pool, withdrawal=reservation.withdrawal)


def test_final_reservation_and_hold_carry_resolution_time():
    assert rejected(ReservationFactory, state="posted", posted_energy=64_285, resolved_at=None)
    assert rejected(HoldFactory, state="settled", resolved_at=None)


def test_hold_once_per_withdrawal_and_balance():
    hold = HoldFactory()
    assert rejected(HoldFactory, balance=hold.balance, withdrawal=hold.withdrawal)


def test_customer_reference_unique_per_partner():
    customer = CustomerFactory(external_ref="c-1")
    assert rejected(CustomerFactory, partner=customer.partner, external_ref="c-1")


def test_api_key_prefix_unique_and_digest_shape():
    key = APIKeyFactory()
    assert rejected(APIKeyFactory, prefix=key.prefix)
    assert rejected(APIKeyFactory, hashed_key="plaintext-key")


def test_prediction_interval_contains_point():
    assert rejected(EnergyPredictionFactory, lower_energy=700_000)


def test_lease_expires_after_acquisition():
    now = timezone.now()
    assert rejected(JobLockFactory, acquired_at=now, expires_at=now - timedelta(seconds=1))
