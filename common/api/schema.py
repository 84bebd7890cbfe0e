"""OpenAPI pieces that know no app: the error shape and the Idempotency-Key header."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from common.idempotency import HEADER, PLATFORM_KEY_PREFIX

ERROR = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "status": serializers.IntegerField(),
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()),
                    required=False,
                    help_text="Validation errors only: input field name → messages.",
                ),
            },
        )
    },
)


def idempotency_key_header(*, required: bool, description: str) -> OpenApiParameter:
    """The `Idempotency-Key` header of an idempotent operation (`common/idempotency.py`)."""
    rules = (
        "Same key and body: the stored answer. Same key, other body: 422 "
        "(`idempotency_key_reused`). Same key while the first is processed: 409 "
        f"(`idempotency_key_in_flight`). Keys starting {PLATFORM_KEY_PREFIX!r} are the "
        "platform's and refused (400); at most 255 printable ASCII characters."
    )
    return OpenApiParameter(
        HEADER,
        str,
        OpenApiParameter.HEADER,
        required=required,
        description=f"{description} {rules}",
    )


def idempotent_responses(success: dict[int, object], *, key_required: bool) -> dict[int, object]:
    """`success` plus the error answers every idempotent operation may give."""
    missing = "; or the required Idempotency-Key is missing" if key_required else ""
    return {
        **success,
        400: OpenApiResponse(
            ERROR, description=f"Invalid fields, or a malformed or reserved key{missing}."
        ),
        409: OpenApiResponse(ERROR, description="A request with this key is in flight."),
        422: OpenApiResponse(ERROR, description="The key was used with another body."),
    }


class StrictDecimalFieldSchema(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """A strict amount's schema states the very pattern the field enforces."""

    target_class = "common.api.serializers.StrictDecimalField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = dict(build_basic_type(OpenApiTypes.STR) or {})
        schema.update(format="decimal", pattern=self.target.pattern)
        return schema
