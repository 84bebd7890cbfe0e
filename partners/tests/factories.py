"""Factories for the partners app."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from factory.django import DjangoModelFactory

from partners.models import APIKey, Customer, Membership, Partner, PartnerWallet, Role
from partners.selectors import api_key_digest

TEST_PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory[AbstractUser]):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(TEST_PASSWORD)


class PartnerFactory(DjangoModelFactory[Partner]):
    class Meta:
        model = Partner

    name = factory.Sequence(lambda n: f"Partner {n}")
    slug = factory.Sequence(lambda n: f"partner-{n}")
    contact_email = factory.LazyAttribute(lambda p: f"ops@{p.slug}.example")


class MembershipFactory(DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    partner = factory.SubFactory(PartnerFactory)
    role = Role.OWNER


class APIKeyFactory(DjangoModelFactory[APIKey]):
    """A key whose plain text is `ep_<prefix>_secret-<prefix>` (see `raw_key_for`)."""

    class Meta:
        model = APIKey

    partner = factory.SubFactory(PartnerFactory)
    name = factory.Sequence(lambda n: f"key {n}")
    prefix = factory.Sequence(lambda n: f"k{n:07d}")
    hashed_key = factory.LazyAttribute(lambda k: api_key_digest(raw_key_for(k.prefix)))
    role = Role.OPERATOR


def raw_key_for(prefix: str) -> str:
    return f"ep_{prefix}_secret-{prefix}"


class PartnerWalletFactory(DjangoModelFactory[PartnerWallet]):
    class Meta:
        model = PartnerWallet

    partner = factory.SubFactory(PartnerFactory)
    address = factory.Sequence(lambda n: test_address(f"wallet-{n}"))
    label = "treasury"


class CustomerFactory(DjangoModelFactory[Customer]):
    class Meta:
        model = Customer

    partner = factory.SubFactory(PartnerFactory)
    user = factory.SubFactory(UserFactory)
    external_ref = factory.Sequence(lambda n: f"cust-{n:05d}")


def test_address(seed: str) -> str:
    """A valid, deterministic TRON address for test rows."""
    import hashlib

    from common.tron import hex_to_tron_address

    return hex_to_tron_address("41" + hashlib.sha256(seed.encode()).hexdigest()[:40])
