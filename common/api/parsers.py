"""The API's only body parser: strict, bounded JSON.

Refused with a 400 in the API's error shape (`parse_error`), before any view runs:
a body larger than `MAX_BODY_BYTES` (413), bytes that are not UTF-8, anything that is not
RFC 8259 JSON (`NaN`, `Infinity`), a key repeated in one object (which value would count?),
nesting deeper than `MAX_DEPTH`, and strings (keys or values) holding a NUL or a lone
surrogate such as `"\\ud800"`, which no database column or UTF-8 response can carry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

# Every request body the API takes is a small, flat object; these bounds leave room.
MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 32


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = f"The request body is larger than {MAX_BODY_BYTES} bytes."
    default_code = "request_too_large"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ParseError(f"JSON parse error - the key {key!r} appears twice.")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ParseError(f"JSON parse error - {name} is not JSON.")


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise ParseError("JSON parse error - strings may not contain NUL.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ParseError("JSON parse error - a string holds a lone surrogate.") from None


def check_json_value(value: Any) -> None:
    """Walk a parsed JSON value (iteratively: no recursion to exhaust): bounded depth,
    every key and string clean. Raises `ParseError`."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item)
            continue
        if not isinstance(item, Mapping | list):
            continue
        if depth > MAX_DEPTH:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.")
        if isinstance(item, Mapping):
            for key, child in item.items():
                _check_string(key)
                stack.append((child, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in item)


def parse_json_bytes(raw: bytes) -> Any:
    """Strict JSON from bytes; raises `BodyTooLarge` or `ParseError`."""
    if len(raw) > MAX_BODY_BYTES:
        raise BodyTooLarge
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("JSON parse error - the body is not UTF-8.") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except RecursionError:
        raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise ParseError(f"JSON parse error - {exc}") from None
    check_json_value(value)
    return value


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        if stream is None:  # no body at all
            return {}
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise BodyTooLarge
        return parse_json_bytes(raw)
