"""Errors any app may raise that the API layer knows how to answer."""


class DependencyUnavailable(Exception):
    """A service the platform depends on (a TRON node, say) did not answer. Retry later."""
