"""Factories for the pools app."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from partners.tests.factories import PartnerFactory, test_address
from pools.models import EnergyPool, EnergyUsageLog, PoolSnapshot, PriceQuote, Reservation


class EnergyPoolFactory(DjangoModelFactory[EnergyPool]):
    class Meta:
        model = EnergyPool

    partner = factory.SubFactory(PartnerFactory)
    address = factory.Sequence(lambda n: test_address(f"pool-{n}"))
    label = factory.Sequence(lambda n: f"pool {n}")
    staked_trx_sun = 100_000 * 1_000_000
    energy_limit = 950_000
    energy_used = 0
    trx_balance_sun = 50 * 1_000_000


class PoolSnapshotFactory(DjangoModelFactory[PoolSnapshot]):
    class Meta:
        model = PoolSnapshot

    pool = factory.SubFactory(EnergyPoolFactory)
    taken_at = factory.LazyFunction(timezone.now)
    block_number = factory.Sequence(lambda n: 1000 + n)
    energy_limit = factory.LazyAttribute(lambda s: s.pool.energy_limit)
    energy_used = factory.LazyAttribute(lambda s: s.pool.energy_used)
    staked_trx_sun = factory.LazyAttribute(lambda s: s.pool.staked_trx_sun)
    trx_balance_sun = factory.LazyAttribute(lambda s: s.pool.trx_balance_sun)


class EnergyUsageLogFactory(DjangoModelFactory[EnergyUsageLog]):
    class Meta:
        model = EnergyUsageLog

    pool = factory.SubFactory(EnergyPoolFactory)
    kind = EnergyUsageLog.Kind.EXTERNAL
    energy_used = 64_285
    at = factory.LazyFunction(timezone.now)


class ReservationFactory(DjangoModelFactory[Reservation]):
    class Meta:
        model = Reservation

    pool = factory.SubFactory(EnergyPoolFactory)
    withdrawal = factory.SubFactory(
        "withdrawals.tests.factories.WithdrawalFactory",
        partner=factory.SelfAttribute("..pool.partner"),
    )
    estimated_energy = 64_285


class PriceQuoteFactory(DjangoModelFactory[PriceQuote]):
    class Meta:
        model = PriceQuote

    source = "chain"
    kind = PriceQuote.Kind.ENERGY_FEE
    price_sun = Decimal(100)
    quoted_at = factory.LazyFunction(timezone.now)
