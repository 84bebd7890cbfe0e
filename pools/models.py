"""Energy pools, their history, the energy ledger and market prices.

Energy is counted in energy units, TRX in sun (1 TRX = 1,000,000 sun), both as integers.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from common.audit import audited
from common.fields import TronAddressField
from common.models import BaseModel
from partners.models import PERCENT_VALIDATORS, Partner


class EnergyPool(BaseModel):
    class Custody(models.TextChoices):
        CUSTODIAL = "custodial", "Custodial (platform signs)"
        WATCH_ONLY = "watch_only", "Watch only"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        DRAINING = "draining", "Draining"
        ERROR = "error", "Error"
        ARCHIVED = "archived", "Archived"

    class Role(models.TextChoices):
        ENERGY = "energy", "Energy pool (sends on its staked energy)"
        # Sends emergency withdrawals, burning TRX: it holds no stake, so it never spends
        # energy that an energy pool promised to queued withdrawals.
        EMERGENCY = "emergency", "Emergency wallet (burns TRX)"

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="pools")
    address = TronAddressField(unique=True)
    label = models.CharField(max_length=100, blank=True)
    custody = models.CharField(max_length=16, choices=Custody.choices, default=Custody.WATCH_ONLY)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ENERGY)

    # Chain state as of the last sync.
    staked_trx_sun = models.BigIntegerField(default=0)
    energy_limit = models.BigIntegerField(default=0)
    energy_used = models.BigIntegerField(default=0)
    trx_balance_sun = models.BigIntegerField(default=0)
    bandwidth_limit = models.BigIntegerField(default=0)
    bandwidth_used = models.BigIntegerField(default=0)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_sync_block = models.BigIntegerField(null=True, blank=True)
    last_sync_error = models.TextField(blank=True)
    # The chain's usage picture when external usage was last checked (see services/sync.py).
    usage_baseline = models.JSONField(null=True, blank=True, editable=False)

    # Energy promised to pending reservations; changed only by the reservation ledger.
    reserved_energy = models.BigIntegerField(default=0)

    # The partner's weight for this pool when several short pools share a donor's surplus
    # (predictions/services/rebalance.py): more is served first, none is starved.
    share_priority = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )

    # An operator reserve: a custodial energy pool (of an operator-owned partner) that lends
    # to the partners granted a draw on it (`ReserveGrant`), as their donor of last resort
    # (predictions/services/rebalance.py). It never lends to or borrows from its own
    # partner's other pools.
    is_reserve = models.BooleanField(
        default=False,
        help_text="Operator reserve: lends to the partners granted a draw on it (reserve grants).",
    )

    # Alert thresholds in percent; None means "use the partner's default".
    warning_threshold = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, validators=PERCENT_VALIDATORS
    )
    critical_threshold = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, validators=PERCENT_VALIDATORS
    )
    emergency_threshold = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, validators=PERCENT_VALIDATORS
    )

    # Who changed a pool's settings (label, status, thresholds…). The chain's numbers and
    # the ledger's reservations change by bulk UPDATEs and are not anyone's decision.
    history = audited(
        exclude=[
            "staked_trx_sun",
            "energy_limit",
            "energy_used",
            "trx_balance_sun",
            "bandwidth_limit",
            "bandwidth_used",
            "last_synced_at",
            "last_sync_block",
            "last_sync_error",
            "usage_baseline",
            "reserved_energy",
        ]
    )

    class Meta:
        ordering = ["partner_id", "id"]
        constraints = [
            models.CheckConstraint(
                name="pool_reserved_nonnegative", condition=Q(reserved_energy__gte=0)
            ),
            models.CheckConstraint(
                name="pool_chain_numbers_nonnegative",
                condition=Q(energy_limit__gte=0)
                & Q(energy_used__gte=0)
                & Q(staked_trx_sun__gte=0)
                & Q(trx_balance_sun__gte=0)
                & Q(bandwidth_limit__gte=0)
                & Q(bandwidth_used__gte=0),
            ),
            models.CheckConstraint(
                name="pool_thresholds_in_range",
                condition=(
                    Q(warning_threshold__isnull=True)
                    | Q(warning_threshold__gt=0, warning_threshold__lte=100)
                )
                & (
                    Q(critical_threshold__isnull=True)
                    | Q(critical_threshold__gt=0, critical_threshold__lte=100)
                )
                & (
                    Q(emergency_threshold__isnull=True)
                    | Q(emergency_threshold__gt=0, emergency_threshold__lte=100)
                ),
            ),
            # A reserve lends by delegating its stake: the platform must sign for it.
            models.CheckConstraint(
                name="pool_reserve_is_custodial_energy",
                condition=Q(is_reserve=False) | Q(custody="custodial", role="energy"),
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "status"], name="pool_partner_status"),
            models.Index(
                fields=["last_synced_at"],
                name="pool_active_sync_due",
                condition=Q(status__in=["active", "draining"]),
            ),
        ]

    def __str__(self) -> str:
        return self.label or self.address

    @property
    def available_energy(self) -> int:
        """What may still be reserved: limit - used - reserved, never below zero."""
        return available_energy(
            limit=self.energy_limit, used=self.energy_used, reserved=self.reserved_energy
        )

    @property
    def usage_percent(self) -> Decimal:
        """Energy used or promised, as a percentage of the limit."""
        return usage_percent(
            limit=self.energy_limit, used=self.energy_used, reserved=self.reserved_energy
        )

    @property
    def regeneration_per_hour(self) -> int:
        """Energy recovers linearly over 24 h, so a full limit regenerates in a day."""
        return regeneration_per_hour(self.energy_limit)

    def effective_thresholds(self) -> tuple[Decimal, Decimal, Decimal]:
        partner = self.partner
        return (
            self.warning_threshold or partner.warning_threshold,
            self.critical_threshold or partner.critical_threshold,
            self.emergency_threshold or partner.emergency_threshold,
        )


class PoolSnapshot(models.Model):
    """A pool's chain state at one sync: the time series analytics and forecasts read."""

    pool = models.ForeignKey(EnergyPool, on_delete=models.CASCADE, related_name="snapshots")
    taken_at = models.DateTimeField()
    block_number = models.BigIntegerField(null=True, blank=True)
    energy_limit = models.BigIntegerField()
    energy_used = models.BigIntegerField()
    staked_trx_sun = models.BigIntegerField()
    trx_balance_sun = models.BigIntegerField()

    class Meta:
        ordering = ["-taken_at"]
        get_latest_by = "taken_at"
        indexes = [models.Index(fields=["pool", "-taken_at"], name="snapshot_pool_time")]
        constraints = [
            models.CheckConstraint(
                name="snapshot_nonnegative",
                condition=Q(energy_limit__gte=0)
                & Q(energy_used__gte=0)
                & Q(staked_trx_sun__gte=0)
                & Q(trx_balance_sun__gte=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pool_id} @ {self.taken_at:%Y-%m-%d %H:%M}"


class EnergyUsageLog(models.Model):
    """One movement of a pool's energy: our own transaction, or usage seen on chain."""

    class Kind(models.TextChoices):
        WITHDRAWAL = "withdrawal", "Withdrawal"
        EMERGENCY = "emergency", "Emergency (burned TRX)"
        STAKING = "staking", "Staking operation"
        EXTERNAL = "external", "External (not caused by the platform)"

    pool = models.ForeignKey(EnergyPool, on_delete=models.CASCADE, related_name="usage_logs")
    withdrawal = models.ForeignKey(
        "withdrawals.Withdrawal",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="usage_logs",
    )
    txid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    energy_used = models.BigIntegerField(default=0)
    trx_burned_sun = models.BigIntegerField(default=0)
    bandwidth_used = models.BigIntegerField(default=0)
    at = models.DateTimeField(db_index=True)
    # The chain's energy fee (sun per unit) in force at `at`, recorded as the usage is logged
    # (pools/selectors.py `energy_fee_at`): what this energy would have cost burned. The
    # savings reads sum it instead of looking the fee up again for every log; null on rows
    # logged without it, for which they fall back to that lookup.
    energy_fee_sun = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [
            # Covering (PostgreSQL): the dashboards' week of usage and 30 days of savings per
            # pool (pools/selectors.py) are read from the index alone.
            models.Index(
                fields=["pool", "-at"],
                name="usage_pool_recent_cover",
                include=["kind", "energy_used", "energy_fee_sun"],
            )
        ]
        constraints = [
            models.CheckConstraint(
                name="usage_nonnegative",
                condition=Q(energy_used__gte=0)
                & Q(trx_burned_sun__gte=0)
                & Q(bandwidth_used__gte=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.energy_used} @ {self.pool_id}"


class Reservation(BaseModel):
    """Energy promised to one withdrawal: pending, then posted with the real energy, or voided.

    A two-phase transfer (TigerBeetle's pending transfers): `pending` holds
    `estimated_energy` in the pool's `reserved_energy`; `posted` and `voided` are final.
    `expires_at` is set only while nothing has been signed against it.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        POSTED = "posted", "Posted"
        VOIDED = "voided", "Voided"

    pool = models.ForeignKey(EnergyPool, on_delete=models.PROTECT, related_name="reservations")
    withdrawal = models.ForeignKey(
        "withdrawals.Withdrawal", on_delete=models.PROTECT, related_name="reservations"
    )
    estimated_energy = models.BigIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    posted_energy = models.BigIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="reservation_estimate_positive", condition=Q(estimated_energy__gt=0)
            ),
            models.CheckConstraint(
                name="reservation_posted_has_energy",
                condition=~Q(state="posted") | Q(posted_energy__gte=0),
            ),
            models.CheckConstraint(
                name="reservation_resolved_when_final",
                condition=Q(state="pending", resolved_at__isnull=True)
                | (~Q(state="pending") & Q(resolved_at__isnull=False)),
            ),
            # At most one pending reservation per withdrawal.
            models.UniqueConstraint(
                fields=["withdrawal"],
                condition=Q(state="pending"),
                name="reservation_one_pending_per_withdrawal",
            ),
        ]
        indexes = [
            models.Index(
                fields=["pool"], condition=Q(state="pending"), name="reservation_pending_pool"
            ),
            models.Index(
                fields=["expires_at"],
                condition=Q(state="pending", expires_at__isnull=False),
                name="reservation_expiring",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.estimated_energy} for {self.withdrawal_id} ({self.state})"


class PriceQuote(models.Model):
    """A price observed at a moment: the chain's fees, or an energy-rental market's offer."""

    class Kind(models.TextChoices):
        ENERGY_FEE = "energy_fee", "Chain energy fee (sun / energy)"
        BANDWIDTH_FEE = "bandwidth_fee", "Chain bandwidth fee (sun / byte)"
        RENTAL = "rental", "Energy rental (sun / energy / day)"

    source = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    price_sun = models.DecimalField(max_digits=20, decimal_places=6)
    duration_days = models.PositiveIntegerField(null=True, blank=True)
    min_energy = models.BigIntegerField(null=True, blank=True)
    quoted_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-quoted_at"]
        indexes = [
            models.Index(fields=["kind", "source", "-quoted_at"], name="price_kind_source_time")
        ]
        constraints = [
            models.CheckConstraint(name="price_positive", condition=Q(price_sun__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.kind} {self.price_sun}"


class StakingOperation(BaseModel):
    """A Stake 2.0 operation on a custodial pool, recorded with its signed transaction.

    The signed transaction is persisted before it is broadcast; the pool's numbers change
    only when sync reads the result from the chain.
    """

    class Kind(models.TextChoices):
        STAKE = "stake", "Stake TRX for energy"
        UNSTAKE = "unstake", "Unstake (14-day wait)"
        WITHDRAW = "withdraw", "Withdraw matured unstakes"
        DELEGATE = "delegate", "Delegate energy"
        UNDELEGATE = "undelegate", "Undelegate energy"
        # A TRX transfer out of the pool, made by the platform only: a rental order's payment
        # (pools/services/rentals.py); partners cannot submit it (pools/apis/staking.py).
        PAYMENT = "payment", "Pay for rented energy"

    class State(models.TextChoices):
        SIGNED = "signed", "Signed, not yet accepted by a node"
        BROADCAST = "broadcast", "Broadcast"
        CONFIRMED = "confirmed", "Confirmed"
        FAILED = "failed", "Failed"
        DEAD = "dead", "Expired, never on chain"

    OPEN_STATES = (State.SIGNED, State.BROADCAST)

    pool = models.ForeignKey(EnergyPool, on_delete=models.PROTECT, related_name="operations")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount_sun = models.BigIntegerField(null=True, blank=True)
    receiver = TronAddressField(blank=True)
    lock_period_blocks = models.PositiveIntegerField(default=0)
    energy_quote = models.BigIntegerField(null=True, blank=True)
    txid = models.CharField(max_length=64, unique=True)
    signed_transaction = models.JSONField()
    expiration = models.DateTimeField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.SIGNED)
    broadcast_count = models.PositiveIntegerField(default=0)
    # Consecutive checks that found it past its expiration (plus a margin) on the solidified
    # chain and unknown to the node: two in a row, and it is dead.
    dead_checks = models.PositiveSmallIntegerField(default=0)
    result = models.CharField(max_length=500, blank=True)
    # Why it was made, when the platform made it (energy sharing writes the shortage it
    # answers); empty for a person's request.
    reason = models.CharField(max_length=500, blank=True)
    receipt = models.JSONField(null=True, blank=True)
    block_number = models.BigIntegerField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="staking_amount_positive",
                condition=Q(amount_sun__isnull=True) | Q(amount_sun__gt=0),
            ),
            models.CheckConstraint(
                name="staking_amount_unless_withdraw",
                condition=Q(kind="withdraw") | Q(amount_sun__isnull=False),
            ),
            models.CheckConstraint(
                name="staking_delegation_has_receiver",
                condition=~Q(kind__in=["delegate", "undelegate", "payment"]) | ~Q(receiver=""),
            ),
            models.UniqueConstraint(
                fields=["pool", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="staking_idempotency_key_unique_per_pool",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(state__in=["signed", "broadcast"]),
                name="staking_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_sun or ''} on {self.pool_id} ({self.state})"


class ReserveGrant(BaseModel):
    """A partner's right to draw energy from an operator reserve pool (`EnergyPool.is_reserve`),
    set by an operator in the admin: `rebalance_pools` lends from the reserve to the partner's
    short pools after the partner's own pools, never more than `max_energy` (of limit, the
    sum of the partner's open loans from this reserve) at a time. Deleting a grant stops new
    loans; loans out are given back by the usual rule (after the lock, when the shortage has
    passed).
    """

    pool = models.ForeignKey(
        EnergyPool,
        on_delete=models.CASCADE,
        related_name="reserve_grants",
        limit_choices_to={"is_reserve": True},
    )
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="reserve_grants")
    max_energy = models.PositiveBigIntegerField(
        validators=[MinValueValidator(1)],
        help_text="The most energy (of limit) the partner may have on loan from this reserve.",
    )

    history = audited()

    class Meta:
        ordering = ["pool_id", "partner_id"]
        constraints = [
            models.UniqueConstraint(fields=["pool", "partner"], name="reserve_grant_one_per_pair"),
            models.CheckConstraint(
                name="reserve_grant_cap_positive", condition=Q(max_energy__gt=0)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner} may draw {self.max_energy} energy from {self.pool}"

    def clean(self) -> None:
        """The pool is a reserve and belongs to another partner than the grantee."""
        errors: dict[str, str] = {}
        pool = EnergyPool.objects.filter(pk=self.pool_id).first() if self.pool_id else None
        if pool is not None and not pool.is_reserve:
            errors["pool"] = "Only a pool marked as a reserve can be drawn from."
        if pool is not None and self.partner_id and pool.partner_id == self.partner_id:
            errors["partner"] = (
                "The reserve's own partner shares with its pools by the usual rule, not a grant."
            )
        if errors:
            raise ValidationError(errors)


class EnergyShare(BaseModel):
    """Energy lent by one pool to another: a delegation the `rebalance_pools` job made
    (predictions/services/rebalance.py), and its return. The donor is a pool of the same
    partner, or an operator reserve the partner was granted a draw on (`ReserveGrant`);
    `partner` is always the receiver's, the borrower, whose limits and loans list count it.

    planned → delegating (its DelegateResource operation recorded) → active (confirmed and
    both pools synced) → returning (UnDelegateResource recorded) → returned; failed when the
    delegation never happened. Each step's operation is found by its idempotency key
    (`delegate_key`, `undelegate_key`), so a process killed between the record and the
    operation makes the same operation again, never a second one.
    """

    class State(models.TextChoices):
        PLANNED = "planned", "Planned (operation being recorded)"
        DELEGATING = "delegating", "Delegating (operation on its way)"
        ACTIVE = "active", "Active (energy lent)"
        RETURNING = "returning", "Returning (undelegation on its way)"
        RETURNED = "returned", "Returned"
        FAILED = "failed", "Failed (nothing lent)"

    OPEN_STATES = (State.PLANNED, State.DELEGATING, State.ACTIVE, State.RETURNING)

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="energy_shares")
    donor = models.ForeignKey(EnergyPool, on_delete=models.PROTECT, related_name="shares_out")
    receiver = models.ForeignKey(EnergyPool, on_delete=models.PROTECT, related_name="shares_in")
    amount_sun = models.BigIntegerField()
    energy = models.BigIntegerField()  # what `amount_sun` bought at the network's ratio then
    lock_period_blocks = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PLANNED)
    reason = models.CharField(max_length=500)
    return_reason = models.CharField(max_length=500, blank=True)
    return_attempts = models.PositiveSmallIntegerField(default=0)
    result = models.CharField(max_length=500, blank=True)  # why it failed, when it did
    delegate_operation = models.OneToOneField(
        StakingOperation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    undelegate_operation = models.OneToOneField(
        StakingOperation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    delegated_block = models.BigIntegerField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="share_amount_positive", condition=Q(amount_sun__gt=0) & Q(energy__gte=0)
            ),
            models.CheckConstraint(
                name="share_donor_is_not_receiver", condition=~Q(donor=F("receiver"))
            ),
            # One open loan per donor and receiver: a second locked delegation would move the
            # first one's lock on chain (java-tron keeps one locked record per pair).
            models.UniqueConstraint(
                fields=["donor", "receiver"],
                condition=Q(state__in=["planned", "delegating", "active", "returning"]),
                name="share_one_open_per_pair",
            ),
        ]
        indexes = [
            models.Index(
                fields=["partner", "state"],
                condition=Q(state__in=["planned", "delegating", "active", "returning"]),
                name="share_open",
            ),
            models.Index(fields=["partner", "-created_at"], name="share_partner_time"),
        ]

    def __str__(self) -> str:
        return f"{self.amount_sun} sun {self.donor_id}→{self.receiver_id} ({self.state})"

    @property
    def delegate_key(self) -> str:
        return f"platform:share:{self.pk}:delegate"

    @property
    def undelegate_key(self) -> str:
        return f"platform:share:{self.pk}:undelegate:{self.return_attempts}"


class RentalOrder(BaseModel):
    """Energy rented from a market for a pool the forecast says runs dry (automatic top-up).

    States (docs/protocols.md, Energy rental): planned (recorded, nothing paid) → paying (the
    payment is a signed, recorded `StakingOperation` of kind payment) → paid (its receipt is on
    the solidified chain) → ordered (the market accepted the order) → delivered (the energy shows
    on chain: the market's delegation to the pool is in a block and the pool holds the stake)
    → expired (the rental's days are over); or failed at any step before delivery. Markets paid
    from a prefunded account skip paying/paid.

    One need, one order: `need_key` names the forecast that asked for it, unique per pool, and a
    pool has at most one open order.
    """

    class State(models.TextChoices):
        PLANNED = "planned", "Planned"
        PAYING = "paying", "Paying"
        PAID = "paid", "Paid"
        ORDERED = "ordered", "Ordered"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    OPEN_STATES = (State.PLANNED, State.PAYING, State.PAID, State.ORDERED)

    pool = models.ForeignKey(EnergyPool, on_delete=models.PROTECT, related_name="rental_orders")
    provider = models.CharField(max_length=64)
    need_key = models.CharField(max_length=64)
    reason = models.CharField(max_length=300)
    energy = models.BigIntegerField()
    days = models.PositiveSmallIntegerField()
    # The newest quote the decision used (sun per energy per day) and burning's price (sun per
    # energy, the chain's energy fee) it was compared with.
    price_sun = models.DecimalField(max_digits=20, decimal_places=6)
    burn_price_sun = models.DecimalField(max_digits=20, decimal_places=6)
    cost_sun = models.BigIntegerField()
    # Where the payment goes (markets paid on chain), fixed when planned so a repeated payment
    # step asks for the very same transfer (pools/services/rentals.py).
    pay_to = TronAddressField(blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PLANNED)
    payment = models.OneToOneField(
        StakingOperation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rental_order",
    )
    market_order_id = models.CharField(max_length=64, blank=True)
    delegate_txid = models.CharField(max_length=64, blank=True)
    refund_txid = models.CharField(max_length=64, blank=True)
    result = models.CharField(max_length=500, blank=True)
    ordered_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["pool", "need_key"], name="rental_one_order_per_need"),
            models.UniqueConstraint(
                fields=["pool"],
                condition=Q(state__in=["planned", "paying", "paid", "ordered"]),
                name="rental_one_open_order_per_pool",
            ),
            models.CheckConstraint(
                name="rental_order_positive",
                condition=Q(energy__gt=0) & Q(days__gt=0) & Q(cost_sun__gt=0),
            ),
        ]
        indexes = [models.Index(fields=["pool", "created_at"], name="rental_pool_created")]

    def __str__(self) -> str:
        return f"{self.energy} energy for {self.days} d on {self.pool_id} ({self.state})"


class SigningKey(BaseModel):
    """A custodial pool's private key, encrypted at rest (see `pools.chain.signers`).

    Only the ciphertext is stored; `__str__` and the admin show the address alone.
    """

    address = TronAddressField(unique=True)
    ciphertext = models.TextField()

    class Meta:
        ordering = ["address"]

    def __str__(self) -> str:
        return str(self.address)

    def __repr__(self) -> str:
        return f"<SigningKey {self.address}>"


# Derived quantities shared by the model, selectors and reads that fetch plain rows.
def available_energy(*, limit: int, used: int, reserved: int) -> int:
    """What may still be reserved: limit - used - reserved, never below zero
    (EnergyPool.available_energy)."""
    return max(0, limit - used - reserved)


def regeneration_per_hour(limit: int) -> int:
    """Energy recovers linearly over 24 h (EnergyPool.regeneration_per_hour)."""
    return limit // 24


def usage_percent(*, limit: int, used: int, reserved: int) -> Decimal:
    """Energy used or promised, as a percentage of the limit (EnergyPool.usage_percent, for
    reads that fetch plain rows)."""
    if limit <= 0:
        return Decimal("100") if (used or reserved) else Decimal(0)
    return (Decimal(used + reserved) * 100 / limit).quantize(Decimal("0.01"))


AVAILABLE_ENERGY = F("energy_limit") - F("energy_used") - F("reserved_energy")
