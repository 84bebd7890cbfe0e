"""Partner API: the calling partner's own profile."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.serializers import (
    StrictCharField,
    StrictDecimalField,
    StrictEmailField,
    StrictInputSerializer,
    StrictIntegerField,
)
from partners.api_base import PartnerAPIView
from partners.models import Partner, Role
from partners.services import THRESHOLDS_OUT_OF_ORDER, partner_update


def percent_input() -> StrictDecimalField:
    """An optional threshold in percent: 0.01 to 100, two decimal places."""
    return StrictDecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        required=False,
    )


class PartnerOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    role = serializers.SerializerMethodField()

    class Meta:
        model = Partner
        fields = [
            "id",
            "name",
            "slug",
            "status",
            "contact_email",
            "warning_threshold",
            "critical_threshold",
            "emergency_threshold",
            "sharing_enabled",
            "sharing_max_moves_per_hour",
            "sharing_max_trx_per_hour",
            "sharing_lock_blocks",
            "created_at",
            "role",
        ]

    def get_role(self, obj: Partner) -> str:
        return str(self.context["role"])


class PartnerUpdateInputSerializer(StrictInputSerializer):
    name = StrictCharField(max_length=120, required=False)
    contact_email = StrictEmailField(required=False, allow_blank=True)
    warning_threshold = percent_input()
    critical_threshold = percent_input()
    emergency_threshold = percent_input()
    # Energy sharing between the partner's pools (README "Energy sharing").
    sharing_enabled = serializers.BooleanField(required=False)
    sharing_max_moves_per_hour = StrictIntegerField(required=False, min_value=0, max_value=1_000)
    sharing_max_trx_per_hour = StrictIntegerField(
        required=False, min_value=0, max_value=100_000_000_000
    )
    sharing_lock_blocks = StrictIntegerField(required=False, min_value=0, max_value=864_000)

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        partner: Partner = self.context["partner"]
        warning = attrs.get("warning_threshold", partner.warning_threshold)
        critical = attrs.get("critical_threshold", partner.critical_threshold)
        emergency = attrs.get("emergency_threshold", partner.emergency_threshold)
        assert isinstance(warning, Decimal)
        assert isinstance(critical, Decimal)
        assert isinstance(emergency, Decimal)
        # Against the partner as loaded; `partner_update` checks again under the row's lock
        # (another request may change the thresholds in between).
        if not warning <= critical <= emergency:
            raise serializers.ValidationError({"non_field_errors": [THRESHOLDS_OUT_OF_ORDER]})
        return attrs


class PartnerMeApi(PartnerAPIView):
    """The calling partner. Owners may change its settings."""

    write_roles = frozenset({Role.OWNER})

    @extend_schema(responses=PartnerOutputSerializer, operation_id="partners_me_retrieve")
    def get(self, request: Request) -> Response:
        caller = self.caller
        data = PartnerOutputSerializer(caller.partner, context={"role": caller.role}).data
        return Response(data)

    @extend_schema(
        request=PartnerUpdateInputSerializer,
        responses=PartnerOutputSerializer,
        operation_id="partners_me_update",
    )
    def patch(self, request: Request) -> Response:
        caller = self.caller
        serializer = PartnerUpdateInputSerializer(
            data=request.data, context={"partner": caller.partner}
        )
        serializer.is_valid(raise_exception=True)
        partner = partner_update(partner=caller.partner, **serializer.validated_data)
        return Response(PartnerOutputSerializer(partner, context={"role": caller.role}).data)
