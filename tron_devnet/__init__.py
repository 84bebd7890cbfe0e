"""A standalone TRON-compatible HTTP devnet (java-tron's ``/wallet`` API) for tests and demos.

Nothing here imports Django or the rest of the project; run it with ``python -m tron_devnet`` or
start it in-process with :func:`tron_devnet.testing.devnet_server`.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
