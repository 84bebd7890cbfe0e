"""Alerts and alert channels under /api/v1/ (seed endpoint names kept for alerts)."""

from django.urls import path

from alerts import apis

app_name = "alerts-api"

urlpatterns = [
    path("energy/alerts/<int:partner_id>", apis.AlertListApi.as_view(), name="list"),
    path(
        "energy/alerts/<int:partner_id>/acknowledge/<int:alert_id>",
        apis.AlertAcknowledgeApi.as_view(),
        name="acknowledge",
    ),
    path("alert-channels", apis.ChannelListApi.as_view(), name="channels"),
    path(
        "alert-channels/webhook-secret",
        apis.WebhookSecretRotateApi.as_view(),
        name="webhook-secret",
    ),
    path("alert-channels/<int:channel_id>", apis.ChannelDetailApi.as_view(), name="channel"),
    path(
        "alert-channels/<int:channel_id>/test", apis.ChannelTestApi.as_view(), name="channel-test"
    ),
]
