"""Reads about partners, and the one place that decides who a caller is and what it may see.

Every partner-scoped query in the project starts from a `Caller`; views never filter by a
partner id taken from the request.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import Http404

from partners.models import APIKey, Customer, Membership, Partner, Role

API_KEY_PREFIX = "ep"
WRITE_ROLES = frozenset({Role.OWNER, Role.OPERATOR})


@dataclass(frozen=True)
class Caller:
    """Who is calling on a partner's behalf: a partner staff member or one of its API keys."""

    partner: Partner
    role: Role
    api_key: APIKey | None = None
    user_id: int | None = None

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER


def api_key_digest(raw_key: str) -> str:
    """SHA-256 of the whole key. Keys carry 190+ bits of entropy, so a fast hash is right."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_split(raw_key: str) -> str | None:
    """The lookup prefix of a well-formed key `ep_<prefix>_<secret>`, else None.

    The secret is URL-safe base64 and may itself contain underscores.
    """
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def api_key_get_active(*, raw_key: str) -> APIKey | None:
    """The active key matching `raw_key` (constant-time digest compare), else None."""
    prefix = api_key_split(raw_key)
    if prefix is None:
        return None
    try:  # `get`, not `first`: no ORDER BY to build on every authenticated request
        key = APIKey.objects.select_related("partner").get(prefix=prefix, revoked_at__isnull=True)
    except APIKey.DoesNotExist:
        return None
    if not hmac.compare_digest(key.hashed_key, api_key_digest(raw_key)):
        return None
    return key


def caller_for_api_key(*, api_key: APIKey) -> Caller | None:
    if api_key.revoked_at is not None or api_key.partner.status != Partner.Status.ACTIVE:
        return None
    return Caller(partner=api_key.partner, role=Role(api_key.role), api_key=api_key)


def caller_for_user(*, user: AbstractBaseUser | AnonymousUser) -> Caller | None:
    if not user.is_authenticated or not user.is_active:
        return None
    membership = (
        Membership.objects.select_related("partner")
        .filter(user_id=user.pk, partner__status=Partner.Status.ACTIVE)
        .first()
    )
    if membership is None:
        return None
    return Caller(
        partner=membership.partner, role=Role(membership.role), user_id=membership.user_id
    )


def membership_partner_id(*, user_id: int) -> int | None:
    """The active partner a staff user belongs to now (re-checked by live consumers)."""
    return (
        Membership.objects.filter(
            user_id=user_id, user__is_active=True, partner__status=Partner.Status.ACTIVE
        )
        .values_list("partner_id", flat=True)
        .first()
    )


def membership_partner_ids(*, user_ids: list[int]) -> dict[int, int]:
    """`membership_partner_id` for many users in one query: user id -> partner id, for those
    who belong to an active partner now (a user has one membership at most)."""
    return dict(
        Membership.objects.filter(
            user_id__in=user_ids, user__is_active=True, partner__status=Partner.Status.ACTIVE
        ).values_list("user_id", "partner_id")
    )


def partner_get_for_caller(*, caller: Caller, partner_id: int) -> Partner:
    """The partner `partner_id` if the caller belongs to it; 404 otherwise (never 403)."""
    if caller.partner.pk != partner_id:
        raise Http404
    return caller.partner


def partner_get_by_id(*, partner_id: int) -> Partner | None:
    """Any partner by id: for operators' tools only, never behind a partner's credentials."""
    return Partner.objects.filter(pk=partner_id).first()


def customer_get_for_user(*, user: AbstractBaseUser | AnonymousUser) -> Customer | None:
    if not user.is_authenticated:
        return None
    # A suspended partner's customers are shut out, as its API keys are.
    return (
        Customer.objects.select_related("partner")
        .filter(user_id=user.pk, partner__status=Partner.Status.ACTIVE)
        .first()
    )
