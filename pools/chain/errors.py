"""Errors of the chain client. Callers see these, never tronpy's or requests' own."""

from __future__ import annotations

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


def node_label(url: str) -> str:
    """A node's host and port, for messages: a URL's path or credentials can hold a token."""
    parts = urlsplit(url)
    host = parts.hostname or "node"
    return f"{host}:{parts.port}" if parts.port else host
