"""Partner API: whether a withdrawal requested now goes fee-free, or waits."""

from __future__ import annotations

from drf_spectacular.utils import (
    extend_schema,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from partners.api_base import PartnerAPIView
from withdrawals.selectors import (
    energy_status,
)


class EnergyStatusSerializer(serializers.Serializer):  # type: ignore[type-arg]
    available_energy = serializers.IntegerField(
        help_text="Free over all of the partner's pools that send withdrawals"
    )
    daily_consumption = serializers.IntegerField(help_text="Those pools' last week, per day")
    energy_sufficient = serializers.BooleanField(
        help_text="A transfer to a new holder fits one pool now and nobody is queued"
    )
    estimated_wait_time = serializers.IntegerField(
        help_text="Minutes, at the pools' summed regeneration rate; 0 when sufficient, "
        "-1 when no pool regenerates"
    )
    queue_position = serializers.IntegerField(
        help_text="Where a new request would wait in the partner's queue; 0 when sufficient"
    )
    emergency_fee_trx = serializers.DecimalField(max_digits=18, decimal_places=6)
    alert_message = serializers.CharField(allow_null=True)


class EnergyStatusApi(PartnerAPIView):
    """Whether a withdrawal requested now goes fee-free, or waits (and how long)."""

    @extend_schema(responses=EnergyStatusSerializer, operation_id="energy_status")
    def get(self, request: Request) -> Response:
        return Response(
            EnergyStatusSerializer(energy_status(partner_id=self.caller.partner.pk)).data
        )
