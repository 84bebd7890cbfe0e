"""The alerts API and admin: lists with filters, acknowledgement, channels, test messages,
webhook secret rotation. Outsiders get 404s, viewers cannot write, bad input is a 400."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.models import AlertChannel, EnergyAlert
from alerts.tests.factories import AlertChannelFactory, EnergyAlertFactory
from alerts.tests.receiver import receiver
from partners.models import Role
from partners.tests.factories import APIKeyFactory, PartnerFactory, raw_key_for
from pools.tests.factories import EnergyPoolFactory
from tests.test_admin import admin_user, verified_client  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

CHANNELS = "/api/v1/alert-channels"
ROTATE = "/api/v1/alert-channels/webhook-secret"


def alerts_url(partner_id):
    return f"/api/v1/energy/alerts/{partner_id}"


def ack_url(partner_id, alert_id):
    return f"/api/v1/energy/alerts/{partner_id}/acknowledge/{alert_id}"


def key_client_for(partner, role):
    key = APIKeyFactory(partner=partner, role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key_for(key.prefix)}")
    return client


def fields_of(response):
    return response.json()["error"]["fields"]


@pytest.fixture
def alerts(partner):
    pool = EnergyPoolFactory(partner=partner)
    other_pool = EnergyPoolFactory(partner=partner)
    now = timezone.now()
    return {
        "open": EnergyAlertFactory(pool=pool, level="critical"),
        "stale": EnergyAlertFactory(pool=other_pool, kind="stale_sync", level="warning"),
        "old_open": EnergyAlertFactory(
            pool=pool, kind="queue_backlog", opened_at=now - timedelta(days=3)
        ),
        "old_resolved": EnergyAlertFactory(
            pool=pool,
            kind="low_trx",
            opened_at=now - timedelta(days=2),
            resolved_at=now - timedelta(days=2),
        ),
        "resolved": EnergyAlertFactory(
            pool=other_pool, kind="usage", resolved_at=now, opened_at=now - timedelta(hours=1)
        ),
    }


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_list_defaults_to_the_last_day_and_everything_open(alerts, partner, viewer_client):
    got = ids(viewer_client.get(alerts_url(partner.pk)))
    expected = {alerts[k].pk for k in ("open", "stale", "old_open", "resolved")}
    assert got == expected
    row = viewer_client.get(alerts_url(partner.pk)).json()["results"][0]
    assert set(row) >= {"kind", "level", "status", "pool_address", "acknowledged_by", "message"}


def test_list_filters(alerts, partner, key_client):
    url = alerts_url(partner.pk)
    assert ids(key_client.get(url, {"status": "resolved"})) == {alerts["resolved"].pk}
    assert ids(key_client.get(url, {"level": "critical"})) == {alerts["open"].pk}
    assert ids(key_client.get(url, {"kind": ["stale_sync", "queue_backlog"]})) == {
        alerts["stale"].pk,
        alerts["old_open"].pk,
    }
    assert ids(key_client.get(url, {"pool": alerts["stale"].pool_id})) == {
        alerts["stale"].pk,
        alerts["resolved"].pk,
    }
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()
    assert len(ids(key_client.get(url, {"since": week_ago}))) == 5
    day_ago = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(key_client.get(url, {"since": week_ago, "until": day_ago})) == {
        alerts["old_open"].pk,
        alerts["old_resolved"].pk,
    }
    page = key_client.get(url, {"page_size": 2}).json()
    assert (page["count"], len(page["results"])) == (4, 2)


def test_list_costs_the_same_queries_with_more_alerts(
    partner, key_client, django_assert_num_queries
):
    for _ in range(3):
        EnergyAlertFactory(pool=EnergyPoolFactory(partner=partner))
    key_client.get(alerts_url(partner.pk))  # warm the key lookup
    with django_assert_num_queries(3):  # the key, count, page
        key_client.get(alerts_url(partner.pk))
    for _ in range(10):
        EnergyAlertFactory(pool=EnergyPoolFactory(partner=partner))
    with django_assert_num_queries(3):
        assert len(ids(key_client.get(alerts_url(partner.pk)))) == 13


def test_list_bad_filters_are_400s_with_fields(partner, key_client):
    response = key_client.get(
        alerts_url(partner.pk),
        {"level": "dire", "kind": "weather", "since": "yesterday", "status": "x"},
    )
    assert response.status_code == 400
    assert set(fields_of(response)) == {"level", "kind", "since", "status"}


def test_another_partners_alerts_are_404(alerts, other_partner, partner, outsider_client):
    assert outsider_client.get(alerts_url(partner.pk)).status_code == 404
    assert ids(outsider_client.get(alerts_url(other_partner.pk))) == set()
    response = outsider_client.post(ack_url(partner.pk, alerts["open"].pk), {}, format="json")
    assert response.status_code == 404
    response = outsider_client.post(ack_url(other_partner.pk, alerts["open"].pk), {}, format="json")
    assert response.status_code == 404
    assert EnergyAlert.objects.get(pk=alerts["open"].pk).acknowledged_at is None


def test_anonymous_callers_are_refused(partner):
    assert APIClient().get(alerts_url(partner.pk)).status_code in (401, 403)
    assert APIClient().get(CHANNELS).status_code in (401, 403)


def test_acknowledge_records_who_when_and_why(alerts, partner, owner_client, owner):
    response = owner_client.post(
        ack_url(partner.pk, alerts["open"].pk), {"note": "adding stake"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["acknowledged_by"], body["acknowledged_note"]) == (
        "acknowledged",
        owner.user.username,
        "adding stake",
    )
    alert = EnergyAlert.objects.get(pk=alerts["open"].pk)
    assert alert.acknowledged_by_id == owner.user_id
    again = owner_client.post(ack_url(partner.pk, alert.pk), {"note": "later"}, format="json")
    assert again.json()["acknowledged_note"] == "adding stake"  # the first one stands


def test_an_api_key_acknowledges_by_its_name(alerts, partner):
    client = key_client_for(partner, Role.OPERATOR)
    body = client.post(ack_url(partner.pk, alerts["stale"].pk), format="json").json()
    assert body["acknowledged_by"].startswith("API key ")
    assert body["acknowledged_at"] is not None


def test_acknowledge_refuses_viewers_bad_input_and_resolved_alerts(
    alerts, partner, viewer_client, owner_client
):
    url = ack_url(partner.pk, alerts["open"].pk)
    assert viewer_client.post(url, {}, format="json").status_code == 403
    response = owner_client.post(url, {"note": "x" * 1001, "who": "me"}, format="json")
    assert response.status_code == 400
    assert set(fields_of(response)) == {"who"}  # unknown fields first
    response = owner_client.post(url, {"note": "x" * 1001}, format="json")
    assert set(fields_of(response)) == {"note"}
    response = owner_client.post(ack_url(partner.pk, alerts["resolved"].pk), {}, format="json")
    assert response.status_code == 400
    assert set(fields_of(response)) == {"alert"}
    assert EnergyAlert.objects.get(pk=alerts["open"].pk).acknowledged_at is None


def test_channels_crud_for_owners_and_operators(partner, owner_client):
    operator_client = key_client_for(partner, Role.OPERATOR)
    response = owner_client.post(
        CHANNELS,
        {
            "name": "ops hook",
            "kind": "webhook",
            "target": "https://hooks.acme.test/energy/abc123secret",
            "min_level": "critical",
            "kinds": ["usage", "queue_backlog"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["target"] == "https://hooks.acme.test/***"  # never echoed whole
    assert (created["min_level"], created["kinds"], created["is_active"]) == (
        "critical",
        ["usage", "queue_backlog"],
        True,
    )
    partner.refresh_from_db()
    assert len(partner.webhook_secret) == 64  # a first webhook gets the partner a secret
    url = f"{CHANNELS}/{created['id']}"
    response = operator_client.patch(url, {"min_level": "warning", "kinds": []}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["min_level"], response.json()["kinds"]) == ("warning", [])
    listed = operator_client.get(CHANNELS).json()
    assert [c["id"] for c in listed["results"]] == [created["id"]]
    assert operator_client.get(url).json()["name"] == "ops hook"
    assert operator_client.delete(url).status_code == 204
    assert not AlertChannel.objects.exists()


def test_channel_bad_input_is_400_with_fields(owner_client):
    cases = [
        ({"name": "a", "kind": "webhook", "target": "ftp://x.test/"}, {"target"}),
        ({"name": "a", "kind": "webhook", "target": "not a url"}, {"target"}),
        ({"name": "a", "kind": "email", "target": "nobody"}, {"target"}),
        ({"name": "a", "kind": "apprise", "target": "nosuchscheme://x"}, {"target"}),
        ({"name": "a", "kind": "pager", "target": "x"}, {"kind"}),
        ({"name": "a", "kind": "email", "target": "a@b.test", "min_level": "dire"}, {"min_level"}),
        ({"name": "a", "kind": "email", "target": "a@b.test", "kinds": ["weather"]}, {"kinds"}),
        ({"name": "a", "kind": "email", "target": "a@b.test", "secret": "x"}, {"secret"}),
        ({"kind": "email", "target": "a@b.test"}, {"name"}),
    ]
    for body, fields in cases:
        response = owner_client.post(CHANNELS, body, format="json")
        assert response.status_code == 400, body
        assert set(fields_of(response)) == fields, (body, fields_of(response))
        assert "nosuchscheme://x" not in response.content.decode()
    assert not AlertChannel.objects.exists()


def test_channel_patch_bad_input(partner, owner_client):
    channel = AlertChannelFactory(partner=partner, kind="email", target="ops@acme.test")
    url = f"{CHANNELS}/{channel.pk}"
    for body, fields in [
        ({"target": "not-an-email"}, {"target"}),
        ({"kind": "webhook"}, {"kind"}),  # a channel's kind stays
        ({"min_level": "loud"}, {"min_level"}),
        ({"kinds": "usage"}, {"kinds"}),
    ]:
        response = owner_client.patch(url, body, format="json")
        assert response.status_code == 400, body
        assert set(fields_of(response)) == fields
    channel.refresh_from_db()
    assert (channel.target, channel.min_level) == ("ops@acme.test", "warning")


def test_viewers_read_channels_but_never_write(partner, viewer_client):
    channel = AlertChannelFactory(partner=partner, kind="email", target="ops@acme.test")
    url = f"{CHANNELS}/{channel.pk}"
    assert viewer_client.get(CHANNELS).status_code == 200
    assert viewer_client.get(url).status_code == 200
    body = {"name": "x", "kind": "email", "target": "x@acme.test"}
    assert viewer_client.post(CHANNELS, body, format="json").status_code == 403
    assert viewer_client.patch(url, {"name": "y"}, format="json").status_code == 403
    assert viewer_client.delete(url).status_code == 403
    assert viewer_client.post(f"{url}/test").status_code == 403
    assert viewer_client.post(ROTATE).status_code == 403
    channel.refresh_from_db()
    assert channel.name != "y"


def test_another_partners_channels_are_404(partner, outsider_client):
    channel = AlertChannelFactory(partner=partner, kind="email", target="ops@acme.test")
    operators = AlertChannelFactory(partner=None, kind="email", target="noc@platform.test")
    for target in (channel, operators):
        url = f"{CHANNELS}/{target.pk}"
        assert outsider_client.get(url).status_code == 404
        assert outsider_client.patch(url, {"name": "mine"}, format="json").status_code == 404
        assert outsider_client.post(f"{url}/test").status_code == 404
        assert outsider_client.delete(url).status_code == 404
    assert outsider_client.get(CHANNELS).json()["results"] == []
    assert AlertChannel.objects.count() == 2


def test_test_message_goes_out_and_returns_its_delivery(partner, owner_client):
    with receiver(codes=[200, 500]) as hook:
        channel = AlertChannelFactory(partner=partner, kind="webhook", target=f"{hook.url}/in")
        owner_client.post(ROTATE)
        response = owner_client.post(f"{CHANNELS}/{channel.pk}/test")
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["event"], body["status"], body["alert"]) == ("test", "sent", None)
        assert body["tries"][0]["status_code"] == 200
        assert hook.requests[0].headers["X-Energy-Delivery"] == body["delivery_id"]
        failed = owner_client.post(f"{CHANNELS}/{channel.pk}/test").json()
    assert (failed["status"], failed["last_error"]) == ("failed", "HTTP 500")  # one try only


def test_rotating_the_webhook_secret(partner, owner_client):
    first = owner_client.post(ROTATE).json()["webhook_secret"]
    second = owner_client.post(ROTATE).json()["webhook_secret"]
    assert first != second
    assert len(second) == 64
    partner.refresh_from_db()
    assert partner.webhook_secret == second


def test_admin_bulk_acknowledges_and_masks_targets(admin_user, partner):  # noqa: F811
    client = verified_client(*admin_user)
    mine = EnergyAlertFactory(pool=EnergyPoolFactory(partner=partner))
    theirs = EnergyAlertFactory(pool=EnergyPoolFactory(partner=PartnerFactory()))
    response = client.post(
        "/admin/alerts/energyalert/",
        {"action": "acknowledge", "_selected_action": [mine.pk, theirs.pk]},
    )
    assert response.status_code == 302
    for alert in (mine, theirs):
        alert.refresh_from_db()
        assert alert.acknowledged_by_id == admin_user[0].pk
    assert client.get("/admin/alerts/energyalert/?state=unacknowledged").status_code == 200
    AlertChannelFactory(partner=partner, kind="apprise", target="tgram://123:SECRETTOKEN/456")
    page = client.get("/admin/alerts/alertchannel/").content.decode()
    assert "SECRETTOKEN" not in page
    assert "tgram://***" in page or "tgram://123/***" in page


def test_admin_channel_test_action(admin_user, partner):  # noqa: F811
    client = verified_client(*admin_user)
    with receiver() as hook:
        from alerts.services.channels import webhook_secret_rotate

        webhook_secret_rotate(partner=partner)
        channel = AlertChannelFactory(partner=partner, kind="webhook", target=hook.url)
        response = client.post(
            "/admin/alerts/alertchannel/", {"action": "send_test", "_selected_action": [channel.pk]}
        )
        assert response.status_code == 302
        assert len(hook.requests) == 1
    assert channel.deliveries.get().status == "sent"
    page = client.get(f"/admin/alerts/alertchannel/{channel.pk}/change/").content.decode()
    assert str(channel.deliveries.get().uid) in page  # the delivery log inline
