"""The partner's read API for rental orders: its own orders only; anyone else's is a 404."""

import pytest

from pools.models import RentalOrder
from pools.pricing import DevnetRentalProvider, RentalOrderingUnsupported, ordering_provider
from pools.tests.factories import EnergyPoolFactory
from tests.test_admin import admin_user, verified_client  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def order_for(partner, **fields):
    return RentalOrder.objects.create(
        pool=EnergyPoolFactory(partner=partner),
        provider="devnet-market",
        need_key=fields.pop("need_key", "need"),
        reason="runs dry in 3.0 h",
        energy=65_000,
        days=1,
        price_sun=40,
        burn_price_sun=100,
        cost_sun=2_600_000,
        **fields,
    )


def test_a_partner_reads_its_orders_and_no_one_elses(partner, other_partner, key_client):
    mine = order_for(partner, state=RentalOrder.State.FAILED, result="insufficient supply")
    theirs = order_for(other_partner)
    listed = key_client.get("/api/v1/rental-orders")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [mine.pk]
    detail = key_client.get(f"/api/v1/rental-orders/{mine.pk}").json()
    assert (detail["state"], detail["result"], detail["cost_sun"]) == (
        "failed",
        "insufficient supply",
        2_600_000,
    )
    assert detail["payment_txid"] == ""
    outsider = key_client.get(f"/api/v1/rental-orders/{theirs.pk}")
    assert outsider.status_code == 404
    assert "runs dry" not in outsider.content.decode()


def test_partners_cannot_submit_a_payment_out_of_a_pool(partner, key_client):
    pool = EnergyPoolFactory(partner=partner, custody="custodial")
    response = key_client.post(
        f"/api/v1/pools/{pool.pk}/operations",
        {"kind": "payment", "amount_trx": "5", "receiver": "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="pay-me",
    )
    assert response.status_code == 400
    assert "kind" in response.json()["error"]["fields"]
    assert not pool.operations.exists()


def test_an_ordering_provider_that_cannot_order_is_reported(settings):
    from django.core.checks import run_checks

    settings.ENERGY_RENTAL_ORDER_PROVIDER = "pools.pricing.TronSaveRentalProvider"
    settings.TRONSAVE_API_KEY = "ts-key"
    ids = [message.id for message in run_checks(tags=["pools"])]
    assert ids == ["pools.W001", "pools.W002"]
    settings.ENERGY_RENTAL_ORDER_PROVIDER = "pools.pricing.Nope"
    assert [message.id for message in run_checks(tags=["pools"])] == ["pools.E005"]
    # A market that orders but is not registered under its name: an order naming it could not
    # find it again to be placed, so new orders do not go to it.
    settings.ENERGY_RENTAL_ORDER_PROVIDER = "pools.tests.test_rental_api.UnregisteredMarket"
    settings.ENERGY_RENTAL_PROVIDERS = [settings.ENERGY_RENTAL_ORDER_PROVIDER]
    checked = run_checks(tags=["pools"])
    assert [message.id for message in checked] == ["pools.W001"]
    assert "not a registered rental provider" in checked[0].msg
    with pytest.raises(RentalOrderingUnsupported, match="not a registered rental provider"):
        ordering_provider()


class UnregisteredMarket(DevnetRentalProvider):
    name = "unregistered-market"


def test_operators_see_orders_in_the_admin_and_cannot_edit_them(partner, admin_user):  # noqa: F811
    order = order_for(partner, state=RentalOrder.State.FAILED, result="insufficient supply")
    client = verified_client(*admin_user)
    listing = client.get("/admin/pools/rentalorder/?state=failed").content.decode()
    assert "insufficient supply" in listing
    assert client.get(f"/admin/pools/rentalorder/{order.pk}/change/").status_code == 200
    assert client.get("/admin/pools/rentalorder/add/").status_code == 403
    staking_form = client.get("/admin/pools/stakingoperation/submit/").content.decode()
    assert 'value="delegate"' in staking_form
    assert 'value="payment"' not in staking_form
