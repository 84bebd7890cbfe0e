"""The roof: wires the apps together. Nothing in the project imports this package."""

from .celery import app as celery_app

__all__ = ["celery_app"]
