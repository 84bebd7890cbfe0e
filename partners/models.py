"""Partners, their staff, their API keys, their wallets and their end users (customers)."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django_otp.models import Device, ThrottlingMixin, TimestampMixin

from common.audit import audited
from common.fields import TronAddressField
from common.models import BaseModel

PERCENT_VALIDATORS = [MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))]


def _percent_field(default: str) -> models.DecimalField:  # type: ignore[type-arg]
    return models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal(default), validators=PERCENT_VALIDATORS
    )


class Partner(BaseModel):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    contact_email = models.EmailField(blank=True)
    # Default alert thresholds for the partner's pools, in percent of the energy limit used.
    warning_threshold = _percent_field("90")
    critical_threshold = _percent_field("95")
    emergency_threshold = _percent_field("98")
    # Shared secret for HMAC-signing webhook deliveries to the partner.
    webhook_secret = models.CharField(max_length=64, blank=True)
    # IANA zone the partner's day and week are read in (usage patterns: predictions/selectors.py).
    time_zone = models.CharField(max_length=64, default="UTC")
    # Alert rules (alerts/services/rules.py): depletion horizon, queue backlog limits.
    depletion_alert_hours = models.PositiveIntegerField(
        default=6, validators=[MinValueValidator(1), MaxValueValidator(24 * 30)]
    )
    queue_backlog_minutes = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    queue_backlog_max = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(1), MaxValueValidator(1_000_000)]
    )
    # Energy sharing between the partner's pools (`rebalance_pools`,
    # predictions/services/rebalance.py): the off switch, the hourly limits on new
    # delegations, and the lock period (in 3 s blocks; 0: none) each delegation is made with.
    sharing_enabled = models.BooleanField(default=True)
    sharing_max_moves_per_hour = models.PositiveIntegerField(
        default=6, validators=[MaxValueValidator(1_000)]
    )
    sharing_max_trx_per_hour = models.PositiveBigIntegerField(
        default=1_000_000, validators=[MaxValueValidator(100_000_000_000)]
    )
    sharing_lock_blocks = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(864_000)]
    )

    # Automatic top-up by rental (predictions/services/topup.py, `pools_topup`): what rented energy
    # may cost per day and per calendar month (in `time_zone`), in whole TRX. 0: off.
    rental_budget_daily_trx = models.PositiveIntegerField(default=0)
    rental_budget_monthly_trx = models.PositiveIntegerField(default=0)

    history = audited(exclude=["webhook_secret"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                name="partner_thresholds_ordered",
                condition=Q(warning_threshold__gt=0)
                & Q(warning_threshold__lte=F("critical_threshold"))
                & Q(critical_threshold__lte=F("emergency_threshold"))
                & Q(emergency_threshold__lte=100),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


class Membership(BaseModel):
    """A partner staff account. A user belongs to at most one partner."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    history = audited()

    class Meta:
        ordering = ["partner_id", "user_id"]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.partner_id} ({self.role})"


class APIKey(BaseModel):
    """A partner's API key. Only a SHA-256 digest is stored; the key is shown once.

    The visible `prefix` finds the row; the digest is compared in constant time.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_key = models.CharField(max_length=64)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OPERATOR)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    history = audited(exclude=["hashed_key", "last_used_at"])

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                name="apikey_hash_is_sha256_hex", condition=Q(hashed_key__regex=r"^[0-9a-f]{64}$")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class PartnerWallet(BaseModel):
    """A TRON wallet the partner proved it controls (TronLink message signature)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="wallets")
    address = TronAddressField()
    label = models.CharField(max_length=100, blank=True)
    verification_message = models.TextField(blank=True)
    signature = models.CharField(max_length=132, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    history = audited()

    class Meta:
        ordering = ["partner_id", "address"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "address"], name="wallet_unique_per_partner"
            ),
        ]

    def __str__(self) -> str:
        return str(self.address)


class WalletChallenge(BaseModel):
    """A one-time message a partner's owner signs with a wallet to prove control of it.

    Issued for one partner and one address, it expires at `expires_at` and is consumed once
    (`used_at`, set by a compare-and-set in `pools.services.wallets.wallet_verify`).
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="challenges")
    address = TronAddressField()
    # 128 random bits, hex: also the challenge's public identifier.
    nonce = models.CharField(max_length=32, unique=True)
    message = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="wallet_challenge_nonce_is_hex", condition=Q(nonce__regex=r"^[0-9a-f]{32}$")
            ),
        ]

    def __str__(self) -> str:
        return f"challenge {self.nonce[:8]}… for {self.address}"


class Customer(BaseModel):
    """An end user of one partner; withdrawals belong to customers."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="customers")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="customer"
    )
    external_ref = models.CharField(max_length=100)

    class Meta:
        ordering = ["partner_id", "external_ref"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "external_ref"], name="customer_ref_unique_per_partner"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_ref} ({self.partner_id})"


class BackupCodeDevice(TimestampMixin, ThrottlingMixin, Device):  # type: ignore[misc]  # django-otp is untyped
    """A staff user's single-use backup codes for the admin's second factor.

    Only each code's SHA-256 is stored (`BackupCode`), so nobody who can read the
    database or the admin — staff included — can read or use another person's codes. A code
    is 80 random bits, so its hash cannot be reversed by trying codes. Wrong codes are
    throttled like django-otp's own devices.
    """

    def get_throttle_factor(self) -> int:
        return 1

    def verify_token(self, token: object) -> bool:
        """True, and the code is used up, if `token` is one of this device's codes."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        digest = backup_code_digest(str(token))
        deleted, _ = BackupCode.objects.filter(device=self, code_hash=digest).delete()
        if deleted:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment()
        return False


class BackupCode(models.Model):
    """One unused backup code of a `BackupCodeDevice`, as its SHA-256 only."""

    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "code_hash"], name="backup_code_unique"),
            models.CheckConstraint(
                name="backup_code_hash_is_sha256_hex",
                condition=Q(code_hash__regex=r"^[0-9a-f]{64}$"),
            ),
        ]

    def __str__(self) -> str:
        return f"backup code of device {self.device_id}"


def backup_code_digest(code: str) -> str:
    """The stored form of a backup code: SHA-256 of its normalised text (case, spaces and
    dashes as people type them do not matter)."""
    normalised = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(normalised.encode()).hexdigest()
