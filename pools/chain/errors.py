"""Errors of the chain client. Callers see these, never tronpy's or requests' own."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from common.errors import DependencyUnavailable


class ChainError(Exception):
    """Something about the chain went wrong."""


class ChainUnavailable(ChainError, DependencyUnavailable):
    """No configured node answered (after retries and failover). Safe to try again later."""


class ChainRejected(ChainError):
    """A node answered and refused: the request itself is wrong (not retried).

    `code` is java-tron's code (`CONTRACT_VALIDATE_ERROR`, `SIGERROR`, ...) when it gave one.
    """

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# java-tron codes for "this node is busy", and HTTP statuses for "this node refuses or
# throttles us": another node may well answer, so both fail over instead of rejecting.
TRANSIENT_CODES = frozenset({"SERVER_BUSY", "NOT_ENOUGH_EFFECTIVE_CONNECTION", "NO_CONNECTION"})
NODE_FAULT_STATUSES = frozenset({401, 403, 429})


class NodeFault(Exception):
    """Internal to the chain package: this node failed in a way worth retrying on another."""


def http_status_error(status: int) -> Exception:
    """What a node's HTTP error status means: a `NodeFault` to fail over, or `ChainRejected`."""
    if status >= 500 or status in NODE_FAULT_STATUSES:
        # Overloaded, rate-limited or refusing our credentials: another node may not.
        return NodeFault(f"HTTP {status}")
    return ChainRejected(f"HTTP {status} from node", code=f"HTTP_{status}")


def checked_payload(payload: object) -> dict[str, Any]:
    """A node's JSON answer as a dict; `NodeFault` if it is not one or says the node is busy."""
    if not isinstance(payload, dict):
        raise NodeFault("unexpected response shape")
    code = payload.get("code")
    if isinstance(code, str) and code in TRANSIENT_CODES:
        raise NodeFault(code)
    return payload


def node_label(url: str) -> str:
    """A node's host and port, for messages: a URL's path or credentials can hold a token."""
    parts = urlsplit(url)
    host = parts.hostname or "node"
    return f"{host}:{parts.port}" if parts.port else host
