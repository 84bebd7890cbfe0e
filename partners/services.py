"""Writes about partners: API keys, memberships, partner settings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from common.audit import history_record_update
from common.readcache import partner_changed_on_commit
from partners.models import APIKey, Customer, Membership, Partner, Role
from partners.selectors import API_KEY_PREFIX, api_key_digest

THRESHOLDS_OUT_OF_ORDER = "Thresholds must satisfy warning ≤ critical ≤ emergency."

# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `raw_key` exists only here and is never stored."""

    api_key: APIKey
    raw_key: str


def api_key_create(
    *, partner: Partner, name: str, role: Role = Role.OPERATOR, created_by_id: int | None = None
) -> IssuedKey:
    """Issue a key for `partner`. Only its SHA-256 digest and visible prefix are stored."""
    prefix = secrets.token_hex(4)
    raw_key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = APIKey.objects.create(
        partner=partner,
        name=name,
        prefix=prefix,
        hashed_key=api_key_digest(raw_key),
        role=role,
        created_by_id=created_by_id,
    )
    return IssuedKey(api_key=api_key, raw_key=raw_key)


def api_key_revoke(*, api_key: APIKey) -> bool:
    """Revoke the key. Idempotent: returns False if it was already revoked. The revocation
    is recorded in the audit trail, by whoever asked."""
    now = timezone.now()
    with transaction.atomic():
        if not APIKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now):
            return False
        api_key.revoked_at = now
        history_record_update(api_key)
    return True


def api_key_touch(*, api_key: APIKey) -> None:
    """Record use, at most once per `LAST_USED_RESOLUTION` (one conditional UPDATE)."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    # Conditional, so concurrent requests write once and the time never goes backwards.
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    APIKey.objects.filter(stale, pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


def partner_update(
    *,
    partner: Partner,
    name: str | None = None,
    contact_email: str | None = None,
    warning_threshold: Decimal | None = None,
    critical_threshold: Decimal | None = None,
    emergency_threshold: Decimal | None = None,
    sharing_enabled: bool | None = None,
    sharing_max_moves_per_hour: int | None = None,
    sharing_max_trx_per_hour: int | None = None,
    sharing_lock_blocks: int | None = None,
) -> Partner:
    """Change a partner's settings (None: unchanged); the caller has validated the ranges of
    the thresholds and of the energy-sharing settings (the off switch, hourly limits on new
    loans, and their lock period in blocks).

    The thresholds' order (warning ≤ critical ≤ emergency, the `partner_thresholds_ordered`
    constraint) is checked here, against the row read under its lock with the new values
    over it: a caller checked it against the partner as it loaded it, which another request
    may have changed since. Raises `ValidationError` (`non_field_errors`, as the API's own
    check) and changes nothing if they would be out of order.

    Returns the partner as saved. Only values that differ from the row (read under its
    lock) are written; if any are, the partner's cached reads (the dashboard's thresholds
    and the levels computed from them, its name) end once the change commits
    (common/readcache.py).
    """
    changes: dict[str, object] = {
        "name": name,
        "contact_email": contact_email,
        "warning_threshold": warning_threshold,
        "critical_threshold": critical_threshold,
        "emergency_threshold": emergency_threshold,
        "sharing_enabled": sharing_enabled,
        "sharing_max_moves_per_hour": sharing_max_moves_per_hour,
        "sharing_max_trx_per_hour": sharing_max_trx_per_hour,
        "sharing_lock_blocks": sharing_lock_blocks,
    }
    with transaction.atomic():
        # Compared with the row as it is now, not the caller's copy (loaded earlier): a
        # value that only looks unchanged is still written, and the history row is whole.
        locked = Partner.objects.select_for_update().get(pk=partner.pk)
        fields = [
            field
            for field, value in changes.items()
            if value is not None and value != getattr(locked, field)
        ]
        stored = (locked.warning_threshold, locked.critical_threshold, locked.emergency_threshold)
        for field in fields:
            setattr(locked, field, changes[field])
        if not locked.warning_threshold <= locked.critical_threshold <= locked.emergency_threshold:
            raise ValidationError(
                {
                    "non_field_errors": [
                        f"{THRESHOLDS_OUT_OF_ORDER} Stored now: warning {stored[0]}, "
                        f"critical {stored[1]}, emergency {stored[2]}."
                    ]
                }
            )
        if fields:
            locked.save(update_fields=[*fields, "updated_at"])
            partner_changed_on_commit(locked.pk)
    return locked


@transaction.atomic
def partner_staff_create(
    *, partner: Partner, username: str, password: str, role: Role, email: str = ""
) -> Membership:
    user_model = get_user_model()
    user = user_model.objects.create_user(username=username, password=password, email=email)
    return Membership.objects.create(user=user, partner=partner, role=role)


@transaction.atomic
def customer_create(
    *,
    partner: Partner,
    external_ref: str,
    username: str | None = None,
    password: str | None = None,
) -> Customer:
    """An end user of `partner` with a login for the withdrawal pages (username
    `<partner slug>.<external_ref>` unless given).

    Raises `ValidationError` on `external_ref` when the partner already has that customer
    (or the login name is taken): the unique constraints decide, so two concurrent
    requests for one reference make one customer, never a 500.
    """
    user_model = get_user_model()
    try:
        with transaction.atomic():
            # Without a password the login is unusable until the customer sets one.
            user = user_model.objects.create_user(
                username=username or f"{partner.slug}.{external_ref}"[:150], password=password
            )
            return Customer.objects.create(partner=partner, user=user, external_ref=external_ref)
    except IntegrityError:
        raise ValidationError(
            {"external_ref": ["A customer with this reference exists."]}, code="exists"
        ) from None
