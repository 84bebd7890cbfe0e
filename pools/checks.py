"""System checks for the pools app's configuration."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured


@register("pools")
def rental_providers_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every configured energy-rental provider can be built (importable, its key present)."""
    from pools.pricing import rental_providers

    errors: list[CheckMessage] = []
    for path in settings.ENERGY_RENTAL_PROVIDERS:
        try:
            rental_providers([path])
        except (ImportError, ImproperlyConfigured) as exc:
            errors.append(
                Error(f"Energy-rental provider {path!r} cannot be used: {exc}", id="pools.E001")
            )
    if not settings.ENERGY_RENTAL_DURATIONS_DAYS or any(
        d <= 0 for d in settings.ENERGY_RENTAL_DURATIONS_DAYS
    ):
        errors.append(
            Error("ENERGY_RENTAL_DURATIONS_DAYS must list positive days.", id="pools.E002")
        )
    if settings.ENERGY_RENTAL_QUOTE_ENERGY <= 0:
        errors.append(Error("ENERGY_RENTAL_QUOTE_ENERGY must be positive.", id="pools.E003"))
    return errors


def longest_signing_stall_seconds() -> int:
    """How long signing can stall without anyone's fault but the platform's: a hung run
    killed at Celery's hard time limit, then its lease expiring, then the next run's wait."""
    from operations.jobs import JOBS_BY_NAME

    spec = JOBS_BY_NAME["broadcast_and_confirm"]
    return settings.CELERY_TASK_TIME_LIMIT + spec.lease_seconds + spec.every_seconds


@register("pools")
def reservation_ttl_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """An unsigned reservation outlives any stall of the signing job, so a stall never
    costs a reserved withdrawal its place (it would be voided and re-queued)."""
    stall = longest_signing_stall_seconds()
    if stall >= settings.RESERVATION_TTL_SECONDS:
        return [
            Error(
                f"RESERVATION_TTL_SECONDS ({settings.RESERVATION_TTL_SECONDS}) must exceed the "
                f"longest signing stall ({stall} s: Celery's hard time limit, a job lease, "
                "the job's interval).",
                id="pools.E004",
            )
        ]
    return []
