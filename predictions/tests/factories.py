"""Factories for the predictions app."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from predictions.models import EnergyPrediction


class EnergyPredictionFactory(DjangoModelFactory[EnergyPrediction]):
    class Meta:
        model = EnergyPrediction

    pool = factory.SubFactory("pools.tests.factories.EnergyPoolFactory")
    made_at = factory.LazyFunction(timezone.now)
    horizon_hours = 24
    target_at = factory.LazyAttribute(lambda p: p.made_at + timedelta(hours=p.horizon_hours))
    predicted_energy = 500_000
    lower_energy = 400_000
    upper_energy = 600_000
    model = "seasonal_naive"
    series = factory.LazyAttribute(
        lambda p: {
            "mean": [p.predicted_energy // p.horizon_hours] * p.horizon_hours,
            "lower": [p.lower_energy // p.horizon_hours] * p.horizon_hours,
            "upper": [p.upper_energy // p.horizon_hours] * p.horizon_hours,
        }
    )
