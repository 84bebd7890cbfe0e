"""Factories for the alerts app."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from alerts.models import AlertChannel, AlertDelivery, EnergyAlert, Level
from partners.tests.factories import PartnerFactory


class EnergyAlertFactory(DjangoModelFactory[EnergyAlert]):
    class Meta:
        model = EnergyAlert

    pool = factory.SubFactory("pools.tests.factories.EnergyPoolFactory")
    partner = factory.SelfAttribute("pool.partner")
    kind = EnergyAlert.Kind.USAGE
    level = Level.WARNING
    value = Decimal("91.5")
    threshold = Decimal("90")
    message = "Energy usage 91.5% is above the warning threshold 90%."
    opened_at = factory.LazyFunction(timezone.now)


class AlertChannelFactory(DjangoModelFactory[AlertChannel]):
    class Meta:
        model = AlertChannel

    partner = factory.SubFactory(PartnerFactory)
    name = factory.Sequence(lambda n: f"channel {n}")
    kind = AlertChannel.Kind.WEBHOOK
    target = "https://hooks.example.invalid/energy"


class AlertDeliveryFactory(DjangoModelFactory[AlertDelivery]):
    class Meta:
        model = AlertDelivery

    alert = factory.SubFactory(EnergyAlertFactory)
    channel = factory.SubFactory(
        AlertChannelFactory, partner=factory.SelfAttribute("..alert.partner")
    )
    level = factory.SelfAttribute("alert.level")
