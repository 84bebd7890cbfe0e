"""Creating customers: the unique constraints decide, so a race makes one customer."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from partners.models import Customer
from partners.services import customer_create
from partners.tests.factories import PartnerFactory


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_creates_of_one_reference_make_one_customer():
    """No existence check before the insert: both requests insert, the constraint lets one
    through and the other is a ValidationError on `external_ref` (a 400), never a 500."""
    partner = PartnerFactory()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def create() -> None:
        try:
            barrier.wait()
            customer_create(partner=partner, external_ref="u-race")
            outcomes.append("created")
        except ValidationError as exc:
            outcomes.append(f"refused:{','.join(exc.message_dict)}")
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "refused:external_ref"]
    assert Customer.objects.filter(partner=partner, external_ref="u-race").count() == 1
