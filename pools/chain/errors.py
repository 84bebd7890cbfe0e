"""Errors of the chain client. Callers see these, never tronpy's or requests' own."""

from __future__ import annotations


class ChainError(Exception):
    """Something about the chain went wrong."""


class ChainUnavailable(ChainError):
    """No configured node answered (after retries and failover). Safe to try again later."""


class ChainRejected(ChainError):
    """A node answered and refused: the request itself is wrong (not retried).

    `code` is java-tron's code (`CONTRACT_VALIDATE_ERROR`, `SIGERROR`, ...) when it gave one.
    """

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
