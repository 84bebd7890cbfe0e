"""Registry and helpers shared by the java-tron endpoint modules (:mod:`tron_devnet.api`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tron_devnet import addresses
from tron_devnet.chain import Chain

Handler = Callable[[Chain, dict[str, Any], bool, bool], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}
SOLIDITY = {
    "getaccount",
    "getaccountresource",
    "getaccountnet",
    "getnowblock",
    "getblockbynum",
    "getblockbyid",
    "getblock",
    "getblockbylatestnum",
    "getblockbylimitnext",
    "gettransactionbyid",
    "gettransactioninfobyid",
    "gettransactioninfobyblocknum",
    "triggerconstantcontract",
    "estimateenergy",
    "getdelegatedresourcev2",
    "getdelegatedresourceaccountindexv2",
    "getcandelegatedmaxsize",
    "getavailableunfreezecount",
    "getcanwithdrawunfreezeamount",
    "getnodeinfo",
    "getchainparameters",
    "validateaddress",
}


def endpoint(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


def error(exc_class: str, message: str) -> dict[str, Any]:
    """java-tron ``Util.processError`` shape."""
    return {"Error": f"class {exc_class} : {message}"}


def text(message: str, visible: bool) -> str:
    """``bytes`` message fields: hex unless the request asked for visible output."""
    return message if visible else message.encode().hex()


class BadRequest(Exception):
    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(str(payload))
        self.payload = payload


def body_address(body: dict[str, Any], key: str) -> bytes | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    try:
        return addresses.parse(value)
    except addresses.AddressError as exc:
        raise BadRequest(
            error("org.tron.core.services.http.JsonFormat$ParseException", str(exc))
        ) from None


def body_int(body: dict[str, Any], key: str, default: int = 0) -> int:
    value = body.get(key, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(
            error("java.lang.NumberFormatException", f'For input string: "{value}"')
        ) from None
