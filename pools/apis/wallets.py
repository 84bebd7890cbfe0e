"""Partner API: linking TRON wallets by a signed challenge, and adding them as pools.

Owners only may link wallets or add them as pools; every role may read them.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.pagination import DefaultPagination, paginated_response
from common.api.serializers import StrictInputSerializer
from partners.api_base import PartnerAPIView
from partners.models import PartnerWallet, Role, WalletChallenge
from pools.apis.pools import PoolOutputSerializer
from pools.selectors import wallet_get_for_partner, wallet_list_for_partner
from pools.services.wallets import wallet_add_pool, wallet_challenge_issue, wallet_verify

OWNERS = frozenset({Role.OWNER})


class ChallengeInputSerializer(StrictInputSerializer):
    address = serializers.CharField(max_length=64, help_text="The base58 address to link.")


class ChallengeOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    challenge = serializers.CharField(source="nonce", read_only=True)

    class Meta:
        model = WalletChallenge
        fields = ["challenge", "address", "message", "expires_at"]
        read_only_fields = fields


class VerifyInputSerializer(StrictInputSerializer):
    challenge = serializers.CharField(max_length=64, help_text="`challenge` of the challenge.")
    address = serializers.CharField(max_length=64)
    signature = serializers.CharField(
        max_length=140,
        help_text="TronLink's `signMessageV2` of the challenge's message: 65 bytes as hex.",
    )
    # "label" shadows DRF's Field.label, which the stubs type as str.
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=100, required=False, allow_blank=True
    )


class WalletOutputSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    pool_id = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The partner's pool on this address, if any."
    )

    class Meta:
        model = PartnerWallet
        fields = [
            "id",
            "address",
            "label",
            "verified_at",
            "verification_message",
            "signature",
            "pool_id",
            "created_at",
        ]
        read_only_fields = fields


class WalletPoolInputSerializer(StrictInputSerializer):
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=100, required=False, allow_blank=True
    )


class WalletChallengeApi(PartnerAPIView):
    """Issue a one-time message for the owner to sign with the wallet (valid a few minutes)."""

    write_roles = OWNERS

    @extend_schema(
        request=ChallengeInputSerializer,
        responses={201: ChallengeOutputSerializer},
        operation_id="wallets_challenge",
    )
    def post(self, request: Request) -> Response:
        caller = self.caller
        challenge = wallet_challenge_issue(
            partner=caller.partner,
            address=self.validated(ChallengeInputSerializer)["address"],
            requested_by_id=caller.user_id,
        )
        return Response(ChallengeOutputSerializer(challenge).data, status=status.HTTP_201_CREATED)


class WalletVerifyApi(PartnerAPIView):
    """Verify the signature of a challenge and record the wallet as verified (once)."""

    write_roles = OWNERS

    @extend_schema(
        request=VerifyInputSerializer,
        responses={201: WalletOutputSerializer},
        operation_id="wallets_verify",
    )
    def post(self, request: Request) -> Response:
        data = self.validated(VerifyInputSerializer)
        caller = self.caller
        wallet = wallet_verify(
            partner=caller.partner,
            nonce=data["challenge"],
            address=data["address"],
            signature_hex=data["signature"],
            label=data.get("label", ""),
        )
        wallet = wallet_get_for_partner(caller=caller, wallet_id=wallet.pk)
        return Response(WalletOutputSerializer(wallet).data, status=status.HTTP_201_CREATED)


class WalletListApi(PartnerAPIView):
    """The calling partner's wallets, newest first, paginated."""

    # Lists are paginated: this tells the schema so (drf-spectacular reads it).
    pagination_class = DefaultPagination

    @extend_schema(responses=WalletOutputSerializer(many=True), operation_id="wallets_list")
    def get(self, request: Request) -> Response:
        return paginated_response(
            self, wallet_list_for_partner(caller=self.caller), WalletOutputSerializer
        )


class WalletDetailApi(PartnerAPIView):
    """One of the calling partner's wallets."""

    @extend_schema(responses=WalletOutputSerializer, operation_id="wallets_retrieve")
    def get(self, request: Request, wallet_id: int) -> Response:
        wallet = wallet_get_for_partner(caller=self.caller, wallet_id=wallet_id)
        return Response(WalletOutputSerializer(wallet).data)


class WalletPoolApi(PartnerAPIView):
    """Add a verified wallet as a watch-only energy pool in one step. Owners only."""

    write_roles = OWNERS

    @extend_schema(
        request=WalletPoolInputSerializer,
        responses={201: PoolOutputSerializer},
        operation_id="wallets_add_pool",
    )
    def post(self, request: Request, wallet_id: int) -> Response:
        wallet = wallet_get_for_partner(caller=self.caller, wallet_id=wallet_id)
        label = self.validated(WalletPoolInputSerializer).get("label", "")
        pool = wallet_add_pool(wallet=wallet, label=label)
        return Response(PoolOutputSerializer(pool).data, status=status.HTTP_201_CREATED)
