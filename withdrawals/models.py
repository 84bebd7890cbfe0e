"""Withdrawals and everything that moves them: attempts, queue, emergency fees, balances."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from common.audit import audited
from common.fields import TronAddressField, token_amount_field
from common.models import BaseModel
from partners.models import Customer, Partner
from pools.models import EnergyPool


class Currency(models.TextChoices):
    USDT = "USDT", "USDT"
    TRX = "TRX", "TRX"


class Withdrawal(BaseModel):
    """A customer's USDT withdrawal. Lifecycle in docs/protocols.md."""

    class Mode(models.TextChoices):
        STANDARD = "standard", "Standard (pool energy)"
        EMERGENCY = "emergency", "Emergency (user pays TRX)"

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        QUEUED = "queued", "Queued"
        RESERVED = "reserved", "Reserved"
        SIGNED = "signed", "Signed"
        BROADCAST = "broadcast", "Broadcast"
        CONFIRMED = "confirmed", "Confirmed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINAL_STATUSES = (Status.CONFIRMED, Status.FAILED, Status.CANCELLED)

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="withdrawals")
    # The customer's partner, kept on the row so every partner-scoped query is one index.
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="withdrawals")
    # The pool that reserves energy for it and sends it; none while it waits in the
    # partner's queue (allocation picks one of the partner's pools).
    pool = models.ForeignKey(
        EnergyPool, on_delete=models.PROTECT, null=True, blank=True, related_name="withdrawals"
    )
    to_address = TronAddressField()
    amount = token_amount_field()
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.STANDARD)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)

    # Fee facts, filled from estimates and then from the confirmed receipt.
    energy_estimate = models.BigIntegerField(null=True, blank=True)
    energy_used = models.BigIntegerField(null=True, blank=True)
    trx_burned_sun = models.BigIntegerField(null=True, blank=True)
    bandwidth_used = models.BigIntegerField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # A failed withdrawal retried by an operator: the new withdrawal points at the old one.
    # The id of the request that asked for it (common/logs.py): the worker logs every step
    # of it under the same id, so one search follows it from the API into the chain.
    request_id = models.CharField(max_length=64, blank=True)
    retry_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="retried_by"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(name="withdrawal_amount_positive", condition=Q(amount__gt=0)),
            models.UniqueConstraint(
                fields=["partner", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="withdrawal_idempotency_key_unique_per_partner",
            ),
        ]
        indexes = [
            # Newest first, ties by id, as the lists and the dashboard order them: a page of
            # the newest is read off the index, not sorted out of every withdrawal.
            models.Index(
                fields=["partner", "-created_at", "-id"], name="withdrawal_partner_newest"
            ),
            models.Index(
                fields=["customer", "-created_at", "-id"], name="withdrawal_customer_newest"
            ),
            models.Index(
                fields=["status", "updated_at"],
                condition=Q(status__in=["reserved", "signed", "broadcast"]),
                name="withdrawal_in_flight",
            ),
            # The partner's withdrawals still in progress (not FINAL_STATUSES), which the
            # dashboard counts in full however long its history (dashboard/selectors.py).
            models.Index(
                fields=["partner", "status"],
                condition=~Q(status__in=["confirmed", "failed", "cancelled"]),
                name="withdrawal_partner_open",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.amount} USDT → {self.to_address} ({self.status})"


class Attempt(BaseModel):
    """One signed transaction for a withdrawal, persisted before it is ever broadcast.

    At most one attempt per withdrawal is possibly live (signed or broadcast); a new one is
    built only after the previous one is provably dead (past expiration and not on chain).
    """

    class State(models.TextChoices):
        SIGNED = "signed", "Signed, not yet broadcast"
        BROADCAST = "broadcast", "Broadcast"
        CONFIRMED = "confirmed", "Confirmed on chain"
        FAILED = "failed", "Failed on chain"
        DEAD = "dead", "Expired, never on chain"

    LIVE_STATES = (State.SIGNED, State.BROADCAST)

    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="attempts")
    signed_transaction = models.JSONField()
    txid = models.CharField(max_length=64, unique=True)
    expiration = models.DateTimeField()
    ref_block_bytes = models.CharField(max_length=8)
    ref_block_hash = models.CharField(max_length=32)
    fee_limit_sun = models.BigIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.SIGNED)
    broadcast_count = models.PositiveIntegerField(default=0)
    last_broadcast_at = models.DateTimeField(null=True, blank=True)
    # Consecutive checks that found it past expiration (plus margin) and unknown; it is
    # declared dead only after two, so one lagging node cannot kill a live transaction.
    dead_checks = models.PositiveSmallIntegerField(default=0)
    result = models.CharField(max_length=64, blank=True)
    receipt = models.JSONField(null=True, blank=True)
    block_number = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["withdrawal"],
                condition=Q(state__in=["signed", "broadcast"]),
                name="attempt_one_live_per_withdrawal",
            ),
            models.CheckConstraint(
                name="attempt_fee_limit_positive", condition=Q(fee_limit_sun__gt=0)
            ),
            models.CheckConstraint(
                name="attempt_txid_hex", condition=Q(txid__regex=r"^[0-9a-f]{64}$")
            ),
        ]
        indexes = [
            models.Index(
                fields=["state", "last_broadcast_at"],
                condition=Q(state__in=["signed", "broadcast"]),
                name="attempt_live",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.txid[:12]}… ({self.state})"


class QueueEntry(models.Model):
    """A withdrawal waiting for energy in its partner's queue: one queue per partner, served
    from any of the partner's pools that can send (withdrawals/services/requests.py). The
    withdrawal has no pool while it waits; allocation picks one. Position and wait are
    derived, not stored."""

    withdrawal = models.OneToOneField(
        Withdrawal, on_delete=models.CASCADE, related_name="queue_entry"
    )
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="queue_entries")
    energy_needed = models.BigIntegerField()
    enqueued_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["enqueued_at", "id"]
        verbose_name_plural = "queue entries"
        indexes = [
            models.Index(fields=["partner", "enqueued_at", "id"], name="queue_partner_order")
        ]
        constraints = [
            models.CheckConstraint(name="queue_energy_positive", condition=Q(energy_needed__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.withdrawal_id} in {self.partner_id}'s queue"


class EmergencyFee(BaseModel):
    """The TRX fee quoted for an emergency withdrawal, with the inputs of the quote."""

    class PaidWith(models.TextChoices):
        BALANCE = "balance", "User's TRX balance"
        ONCHAIN = "onchain", "On-chain TRX payment"

    withdrawal = models.OneToOneField(
        Withdrawal, on_delete=models.PROTECT, related_name="emergency_fee"
    )
    energy_estimate = models.BigIntegerField()
    energy_fee_sun = models.BigIntegerField(help_text="getEnergyFee at quote time (sun / energy)")
    bandwidth_estimate = models.BigIntegerField()
    bandwidth_fee_sun = models.BigIntegerField(help_text="getTransactionFee (sun / byte)")
    recipient_holds_usdt = models.BooleanField()
    quoted_fee_sun = models.BigIntegerField()
    expires_at = models.DateTimeField()
    paid_with = models.CharField(max_length=16, choices=PaidWith.choices, blank=True)
    payment_txid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="emergency_fee_positive", condition=Q(quoted_fee_sun__gt=0)
            ),
            models.CheckConstraint(
                name="emergency_fee_inputs_nonnegative",
                condition=Q(energy_estimate__gte=0)
                & Q(energy_fee_sun__gte=0)
                & Q(bandwidth_estimate__gte=0)
                & Q(bandwidth_fee_sun__gte=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quoted_fee_sun} sun for {self.withdrawal_id}"


class Balance(BaseModel):
    """A customer's funds in one currency: `available` may be spent, `held` is promised."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="balances")
    currency = models.CharField(max_length=8, choices=Currency.choices)
    available = token_amount_field(default=0)
    held = token_amount_field(default=0)

    class Meta:
        ordering = ["customer_id", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "currency"], name="balance_one_per_currency"
            ),
            models.CheckConstraint(
                name="balance_available_nonnegative", condition=Q(available__gte=0)
            ),
            models.CheckConstraint(name="balance_held_nonnegative", condition=Q(held__gte=0)),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.available} {self.currency}"


class Hold(BaseModel):
    """Funds set aside for a withdrawal; settled or released exactly once."""

    class State(models.TextChoices):
        HELD = "held", "Held"
        SETTLED = "settled", "Settled"
        RELEASED = "released", "Released"

    balance = models.ForeignKey(Balance, on_delete=models.PROTECT, related_name="holds")
    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.PROTECT, related_name="holds")
    amount = token_amount_field()
    state = models.CharField(max_length=16, choices=State.choices, default=State.HELD)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(name="hold_amount_positive", condition=Q(amount__gt=0)),
            models.UniqueConstraint(fields=["withdrawal", "balance"], name="hold_one_per_balance"),
            models.CheckConstraint(
                name="hold_resolved_when_final",
                condition=Q(state="held", resolved_at__isnull=True)
                | (~Q(state="held") & Q(resolved_at__isnull=False)),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} for {self.withdrawal_id} ({self.state})"


class Credit(BaseModel):
    """Funds added to a customer's balance (a deposit the partner reports). Idempotent per
    (customer, idempotency key): the same credit reported twice is applied once."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credits")
    currency = models.CharField(max_length=8, choices=Currency.choices)
    amount = token_amount_field()
    idempotency_key = models.CharField(max_length=255)
    reference = models.CharField(max_length=255, blank=True)

    history = audited()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(name="credit_amount_positive", condition=Q(amount__gt=0)),
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"], name="credit_once_per_key"
            ),
        ]

    def __str__(self) -> str:
        return f"+{self.amount} {self.currency} for {self.customer_id}"
