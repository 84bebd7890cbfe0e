"""Forecasts of pool energy use, kept with their actuals so accuracy can be tracked.

One row per pool, hour the forecast was made and horizon (24 h or 7 d): the total energy
expected over [made_at, target_at) with its 80 % interval and the hourly series behind it.
Once target_at has passed, `refresh_predictions` scores it: actual_energy, abs_error and
whether the interval covered the actual.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from pools.models import EnergyPool


class EnergyPrediction(models.Model):
    pool = models.ForeignKey(EnergyPool, on_delete=models.CASCADE, related_name="predictions")
    made_at = models.DateTimeField()
    horizon_hours = models.PositiveIntegerField()
    target_at = models.DateTimeField()
    predicted_energy = models.BigIntegerField()
    lower_energy = models.BigIntegerField()
    upper_energy = models.BigIntegerField()
    level = models.DecimalField(max_digits=3, decimal_places=2, default=Decimal("0.80"))
    model = models.CharField(max_length=64)
    # Hourly forecast: {"mean": [...], "lower": [...], "upper": [...]}, energy per hour.
    series = models.JSONField(default=dict)
    actual_energy = models.BigIntegerField(null=True, blank=True)
    abs_error = models.BigIntegerField(null=True, blank=True)
    covered = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["-made_at"]
        indexes = [
            models.Index(fields=["pool", "-made_at"], name="prediction_pool_recent"),
            models.Index(
                fields=["target_at"],
                condition=Q(actual_energy__isnull=True),
                name="prediction_unscored",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                name="prediction_interval_contains_point",
                condition=Q(lower_energy__lte=F("predicted_energy"))
                & Q(predicted_energy__lte=F("upper_energy")),
            ),
            models.CheckConstraint(
                name="prediction_horizon_positive", condition=Q(horizon_hours__gt=0)
            ),
            models.CheckConstraint(name="prediction_nonnegative", condition=Q(lower_energy__gte=0)),
            models.UniqueConstraint(
                fields=["pool", "made_at", "horizon_hours"], name="prediction_one_per_hour"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pool_id} +{self.horizon_hours}h: {self.predicted_energy}"


class PoolForecast(EnergyPool):
    """The admin's per-pool view of forecasts and their accuracy (no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "pool forecast and accuracy"
        verbose_name_plural = "pool forecasts and accuracy"
