"""The admin's per-pool forecast and accuracy page."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from pools.tests.factories import EnergyPoolFactory
from predictions.selectors import hour_floor
from predictions.tests.factories import EnergyPredictionFactory
from tests.test_admin import admin_user, verified_client  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def test_pool_forecast_page_shows_forecast_depletion_and_accuracy(admin_user):  # noqa: F811
    pool = EnergyPoolFactory(label="hot-pool", energy_limit=2_400_000, energy_used=2_300_000)
    made = hour_floor(timezone.now())
    EnergyPredictionFactory(
        pool=pool,
        made_at=made,
        predicted_energy=1_234_567,
        lower_energy=1_000_000,
        upper_energy=2_000_000,
    )
    EnergyPredictionFactory(
        pool=pool,
        made_at=made,
        horizon_hours=168,
        predicted_energy=8_000_000,
        lower_energy=7_000_000,
        upper_energy=25_200_000,
    )
    for i, covered in enumerate([True, False]):
        EnergyPredictionFactory(
            pool=pool,
            made_at=made - timedelta(days=2, hours=i),
            actual_energy=1,
            abs_error=50_000,
            covered=covered,
        )
    page = verified_client(*admin_user).get("/admin/predictions/poolforecast/").content.decode()
    assert "hot-pool" in page
    assert "1,234,567 (1,000,000–2,000,000)" in page
    assert "8,000,000 (7,000,000–25,200,000)" in page
    assert "50,000" in page  # MAE
    assert "50%" in page  # coverage
    # Runs out: 100,000 left, 100,000 back an hour, 150,000 an hour at worst: within 3 hours.
    (shown,) = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC", page)
    at = datetime.strptime(shown, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert timezone.now() < at + timedelta(minutes=1) < timezone.now() + timedelta(hours=3)
