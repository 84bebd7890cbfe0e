"""PATCH /partners/me/: the thresholds' order is checked against the row under its lock
(partners/services.py `partner_update`), so a change made by another request between the
input's validation and the write is a 400 with field errors, never the database's
IntegrityError (a 500), and nothing is changed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from partners import apis
from partners.models import Partner
from partners.services import partner_update

pytestmark = pytest.mark.django_db

ME = "/api/v1/partners/me/"
THRESHOLDS = ("warning_threshold", "critical_threshold", "emergency_threshold")


def stored(partner: Partner) -> tuple[Any, ...]:
    row: tuple[Any, ...] = (
        Partner.objects.filter(pk=partner.pk).values_list(*THRESHOLDS, "updated_at").get()
    )
    return row


def test_a_threshold_race_is_a_400_with_field_errors_and_changes_nothing(
    partner, owner_client, monkeypatch
):
    """The request raises critical to 92 (90 ≤ 92 ≤ 98 against the partner as loaded); after
    its input is validated, another request's change of the warning threshold to 93
    commits. The database would refuse 93 ≤ 92 (`partner_thresholds_ordered`)."""
    service = apis.partner_update

    def another_request_first(**kwargs):
        Partner.objects.filter(pk=partner.pk).update(warning_threshold=Decimal("93"))
        return service(**kwargs)

    monkeypatch.setattr(apis, "partner_update", another_request_first)
    response = owner_client.patch(ME, {"critical_threshold": "92"}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    message = error["fields"]["non_field_errors"][0]
    assert message.startswith("Thresholds must satisfy warning ≤ critical ≤ emergency.")
    assert "warning 93.00, critical 95.00, emergency 98.00" in message  # as stored now
    before = stored(partner)
    assert before[:3] == (Decimal("93"), Decimal("95"), Decimal("98"))  # the other's change only
    # The same request once the client has seen the stored values is taken.
    monkeypatch.setattr(apis, "partner_update", service)
    response = owner_client.patch(ME, {"critical_threshold": "94"}, format="json")
    assert response.status_code == 200, response.content
    assert stored(partner)[:3] == (Decimal("93"), Decimal("94"), Decimal("98"))


def test_partner_update_checks_the_order_against_the_stored_row(partner):
    """A caller's copy says warning 90; the row says 93: critical 92 is refused, nothing is
    written; new values that order the row with it are taken."""
    Partner.objects.filter(pk=partner.pk).update(warning_threshold=Decimal("93"))
    before = stored(partner)
    with pytest.raises(ValidationError) as refused:
        partner_update(partner=partner, name="Renamed", critical_threshold=Decimal("92"))
    assert set(refused.value.message_dict) == {"non_field_errors"}
    assert stored(partner) == before
    assert Partner.objects.get(pk=partner.pk).name == "Acme Wallet"
    saved = partner_update(
        partner=partner, warning_threshold=Decimal("91"), critical_threshold=Decimal("92")
    )
    assert (saved.warning_threshold, saved.critical_threshold) == (Decimal("91"), Decimal("92"))
    # Unrelated settings never trip over the thresholds.
    assert partner_update(partner=partner, name="Renamed").name == "Renamed"
