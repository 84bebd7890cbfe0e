"""PATCH /pools/{id}/: the effective thresholds' order is checked against the pool's and its
partner's rows under their locks (pools/services/pools.py `pool_update_settings`), never
against the pool as the request loaded it, so a change another request made in between is a
400 with field errors and nothing is changed (no database constraint spans the two rows: the
misordered thresholds would have been saved)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from partners.models import Partner
from pools.apis import pools as pool_apis
from pools.models import EnergyPool
from pools.services.pools import pool_update_settings
from pools.tests.factories import EnergyPoolFactory

pytestmark = pytest.mark.django_db

THRESHOLDS = ("warning_threshold", "critical_threshold", "emergency_threshold")


def stored(pool: EnergyPool) -> tuple[Any, ...]:
    row: tuple[Any, ...] = (
        EnergyPool.objects.filter(pk=pool.pk).values_list(*THRESHOLDS, "updated_at").get()
    )
    return row


@pytest.mark.parametrize(
    "other_change",
    [
        # The partner's warning threshold, which the pool inherits, raised to 93.
        lambda pool: Partner.objects.filter(pk=pool.partner_id).update(
            warning_threshold=Decimal("93")
        ),
        # The pool's own warning override set to 93.
        lambda pool: EnergyPool.objects.filter(pk=pool.pk).update(warning_threshold=Decimal("93")),
    ],
    ids=["partner", "pool"],
)
def test_a_threshold_race_is_a_400_with_field_errors_and_changes_nothing(
    partner, owner_client, monkeypatch, other_change
):
    """The request sets the pool's critical override to 92 (90 ≤ 92 ≤ 98 as loaded); before
    the service writes it, another request's change makes the warning threshold 93."""
    pool = EnergyPoolFactory(partner=partner)
    service = pool_apis.pool_update_settings

    def another_request_first(**kwargs):
        other_change(pool)
        return service(**kwargs)

    monkeypatch.setattr(pool_apis, "pool_update_settings", another_request_first)
    response = owner_client.patch(
        f"/api/v1/pools/{pool.pk}/", {"label": "new", "critical_threshold": "92"}, format="json"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {
        "non_field_errors": ["Thresholds must satisfy warning ≤ critical ≤ emergency."]
    }
    after = EnergyPool.objects.get(pk=pool.pk)
    assert after.critical_threshold is None
    assert after.label == pool.label
    assert after.updated_at == pool.updated_at  # the other change is an update(): no stamp


def test_pool_update_settings_checks_against_the_stored_rows(partner):
    pool = EnergyPoolFactory(partner=partner)  # its partner loaded with warning 90
    stale = EnergyPool.objects.select_related("partner").get(pk=pool.pk)
    Partner.objects.filter(pk=partner.pk).update(warning_threshold=Decimal("93"))
    before = stored(pool)
    with pytest.raises(ValidationError) as refused:
        pool_update_settings(
            pool=stale, label="x", thresholds={"critical_threshold": Decimal("92")}
        )
    assert set(refused.value.message_dict) == {"non_field_errors"}
    assert stored(pool) == before
    assert EnergyPool.objects.get(pk=pool.pk).label == pool.label
    # Ordered with the stored rows: taken, and the pool as saved is returned.
    saved = pool_update_settings(
        pool=stale, label="x", thresholds={"critical_threshold": Decimal("94")}
    )
    assert (saved.label, saved.critical_threshold) == ("x", Decimal("94"))
    assert saved.effective_thresholds() == (Decimal("93"), Decimal("94"), Decimal("98"))
