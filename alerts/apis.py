"""Partner API: the partner's alerts (list, acknowledge) and alert channels."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from alerts.models import AlertChannel, AlertDelivery, AlertDeliveryAttempt, EnergyAlert, Level
from alerts.selectors import (
    alert_get_for_caller,
    alert_list_for_partner,
    alert_recent_or_open,
    channel_get_for_caller,
    channel_list_for_caller,
    delivery_with_tries,
)
from alerts.services import alert_acknowledge
from alerts.services.channels import (
    channel_create,
    channel_delete,
    channel_update,
    webhook_secret_rotate,
)
from alerts.services.delivery import channel_test
from common.api.filters import filtered
from common.api.pagination import DefaultPagination, paginated_response
from common.api.serializers import StrictInputSerializer
from partners.api_base import PartnerAPIView
from partners.selectors import Caller, partner_get_for_caller


class AlertOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    pool_address = serializers.CharField(source="pool.address", allow_null=True, default=None)
    status = serializers.SerializerMethodField()
    acknowledged_by = serializers.CharField(source="acknowledged_by_label")

    class Meta:
        model = EnergyAlert
        fields = [
            "id",
            "partner",
            "pool",
            "pool_address",
            "kind",
            "level",
            "status",
            "value",
            "threshold",
            "message",
            "opened_at",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledged_note",
            "resolved_at",
            "sequence",
        ]
        read_only_fields = fields

    def get_status(self, alert: EnergyAlert) -> str:
        if alert.resolved_at is not None:
            return "resolved"
        return "acknowledged" if alert.acknowledged_at is not None else "open"


STATUS_CHOICES = [
    ("open", "Open (acknowledged or not)"),
    ("unacknowledged", "Open, not acknowledged"),
    ("acknowledged", "Open, acknowledged"),
    ("resolved", "Resolved"),
]


class AlertFilter(filters.FilterSet):  # type: ignore[misc]  # django-filter is untyped
    status = filters.ChoiceFilter(choices=STATUS_CHOICES, method="filter_status")
    level = filters.MultipleChoiceFilter(choices=Level.choices)
    kind = filters.MultipleChoiceFilter(choices=EnergyAlert.Kind.choices)
    pool = filters.NumberFilter(field_name="pool_id")
    since = filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    until = filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="lt")

    class Meta:
        model = EnergyAlert
        fields = ["status", "level", "kind", "pool", "since", "until"]

    def filter_status(
        self, queryset: QuerySet[EnergyAlert], name: str, value: str
    ) -> QuerySet[EnergyAlert]:
        conditions = {
            "open": Q(resolved_at__isnull=True),
            "unacknowledged": Q(resolved_at__isnull=True, acknowledged_at__isnull=True),
            "acknowledged": Q(resolved_at__isnull=True, acknowledged_at__isnull=False),
            "resolved": Q(resolved_at__isnull=False),
        }
        return queryset.filter(conditions[value])


class AlertListApi(PartnerAPIView):
    """The partner's alerts, newest first. Without `since` or `until`: those opened in the
    last 24 h and every one still open."""

    # Lists are paginated: this tells the schema so (drf-spectacular reads it).
    pagination_class = DefaultPagination

    @extend_schema(
        responses=AlertOutputSerializer(many=True), operation_id="energy_alerts", filters=True
    )
    def get(self, request: Request, partner_id: int) -> Response:
        partner = partner_get_for_caller(caller=self.caller, partner_id=partner_id)
        queryset = alert_list_for_partner(partner_id=partner.pk)
        if "since" not in request.query_params and "until" not in request.query_params:
            queryset = alert_recent_or_open(queryset)
        return paginated_response(
            self, filtered(AlertFilter, request, queryset), AlertOutputSerializer
        )


class AcknowledgeInputSerializer(StrictInputSerializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


def _who(caller: Caller, request: Request) -> tuple[int | None, str]:
    if caller.api_key is not None:
        return None, f"API key {caller.api_key.prefix}… ({caller.api_key.name})"
    return caller.user_id, str(request.user.get_username())


class AlertAcknowledgeApi(PartnerAPIView):
    """Acknowledge an open alert (stops its re-notification until it escalates)."""

    @extend_schema(
        request=AcknowledgeInputSerializer,
        responses=AlertOutputSerializer,
        operation_id="energy_alert_acknowledge",
    )
    def post(self, request: Request, partner_id: int, alert_id: int) -> Response:
        partner_get_for_caller(caller=self.caller, partner_id=partner_id)
        alert = alert_get_for_caller(caller=self.caller, alert_id=alert_id)
        serializer = AcknowledgeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_id, label = _who(self.caller, request)
        alert = alert_acknowledge(
            alert=alert, user_id=user_id, label=label, note=serializer.validated_data["note"]
        )
        alert = alert_get_for_caller(caller=self.caller, alert_id=alert.pk)
        return Response(AlertOutputSerializer(alert).data)


class ChannelOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    target = serializers.CharField(
        source="target_masked", help_text="Email address, or the URL's scheme and host only."
    )

    class Meta:
        model = AlertChannel
        fields = ["id", "name", "kind", "target", "min_level", "kinds", "is_active", "created_at"]
        read_only_fields = fields


def kinds_input() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=EnergyAlert.Kind.choices),
        required=False,
        allow_empty=True,
        max_length=len(EnergyAlert.Kind.choices),
        help_text="Alert kinds sent to this channel; empty: every kind.",
    )


class ChannelCreateInputSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=AlertChannel.Kind.choices)
    target = serializers.CharField(
        max_length=500, help_text="Email address, webhook URL (http/https) or apprise URL."
    )
    min_level = serializers.ChoiceField(choices=Level.choices, default=Level.WARNING)
    kinds = kinds_input()
    is_active = serializers.BooleanField(default=True)


class ChannelUpdateInputSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=100, required=False)
    target = serializers.CharField(max_length=500, required=False)
    min_level = serializers.ChoiceField(choices=Level.choices, required=False)
    kinds = kinds_input()
    is_active = serializers.BooleanField(required=False)


class AttemptOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = AlertDeliveryAttempt
        fields = ["number", "started_at", "duration_ms", "outcome", "status_code", "error"]
        read_only_fields = fields


class DeliveryOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    delivery_id = serializers.UUIDField(source="uid")
    tries = AttemptOutputSerializer(many=True)

    class Meta:
        model = AlertDelivery
        fields = [
            "id",
            "delivery_id",
            "alert",
            "channel",
            "event",
            "level",
            "status",
            "attempts",
            "last_error",
            "sent_at",
            "created_at",
            "tries",
        ]
        read_only_fields = fields


class ChannelListApi(PartnerAPIView):
    """The partner's alert channels; owners and operators add them."""

    # Lists are paginated: this tells the schema so (drf-spectacular reads it).
    pagination_class = DefaultPagination

    @extend_schema(responses=ChannelOutputSerializer(many=True), operation_id="alert_channels_list")
    def get(self, request: Request) -> Response:
        return paginated_response(
            self, channel_list_for_caller(caller=self.caller), ChannelOutputSerializer
        )

    @extend_schema(
        request=ChannelCreateInputSerializer,
        responses={201: ChannelOutputSerializer},
        operation_id="alert_channels_create",
    )
    def post(self, request: Request) -> Response:
        serializer = ChannelCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        data.setdefault("kinds", [])
        channel = channel_create(partner=self.caller.partner, data=data)
        return Response(ChannelOutputSerializer(channel).data, status=status.HTTP_201_CREATED)


class ChannelDetailApi(PartnerAPIView):
    """One of the partner's channels: read, change, delete."""

    @extend_schema(responses=ChannelOutputSerializer, operation_id="alert_channels_retrieve")
    def get(self, request: Request, channel_id: int) -> Response:
        channel = channel_get_for_caller(caller=self.caller, channel_id=channel_id)
        return Response(ChannelOutputSerializer(channel).data)

    @extend_schema(
        request=ChannelUpdateInputSerializer,
        responses=ChannelOutputSerializer,
        operation_id="alert_channels_update",
    )
    def patch(self, request: Request, channel_id: int) -> Response:
        channel = channel_get_for_caller(caller=self.caller, channel_id=channel_id)
        serializer = ChannelUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = channel_update(channel=channel, data=dict(serializer.validated_data))
        return Response(ChannelOutputSerializer(channel).data)

    @extend_schema(request=None, responses={204: None}, operation_id="alert_channels_delete")
    def delete(self, request: Request, channel_id: int) -> Response:
        channel = channel_get_for_caller(caller=self.caller, channel_id=channel_id)
        channel_delete(channel=channel)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelTestApi(PartnerAPIView):
    """Send a test message to the channel now (one try) and return its delivery."""

    @extend_schema(
        request=None, responses=DeliveryOutputSerializer, operation_id="alert_channels_test"
    )
    def post(self, request: Request, channel_id: int) -> Response:
        channel = channel_get_for_caller(caller=self.caller, channel_id=channel_id)
        delivery = channel_test(channel=channel)
        return Response(DeliveryOutputSerializer(delivery_with_tries(delivery_id=delivery.pk)).data)


class WebhookSecretOutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    webhook_secret = serializers.CharField(
        help_text="Shown once. Verify X-Energy-Signature with it (README, Alerts)."
    )


class WebhookSecretRotateApi(PartnerAPIView):
    """Replace the partner's webhook signing secret; the new one is returned once."""

    @extend_schema(
        request=None,
        responses=WebhookSecretOutputSerializer,
        operation_id="alert_channels_webhook_secret_rotate",
    )
    def post(self, request: Request) -> Response:
        secret = webhook_secret_rotate(partner=self.caller.partner)
        return Response(WebhookSecretOutputSerializer({"webhook_secret": secret}).data)
