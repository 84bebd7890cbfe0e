"""System checks for the pools app's configuration."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
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


@register("pools")
def rental_ordering_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The automatic top-up can order: its provider orders and is registered under its name
    (`pools.pricing.PROVIDERS_BY_NAME`), and its quotes for the rental's days are recorded
    (the decision compares the newest one with burning)."""
    from django.utils.module_loading import import_string

    from pools.pricing import why_cannot_order

    path = settings.ENERGY_RENTAL_ORDER_PROVIDER
    try:
        provider = import_string(path)
    except ImportError as exc:
        return [Error(f"ENERGY_RENTAL_ORDER_PROVIDER {path!r}: {exc}", id="pools.E005")]
    warnings: list[CheckMessage] = []
    if gap := why_cannot_order(provider):
        warnings.append(
            Warning(
                f"ENERGY_RENTAL_ORDER_PROVIDER {path!r} cannot place orders: {gap}; "
                "automatic top-up orders nothing.",
                id="pools.W001",
            )
        )
    days = settings.TOPUP_RENTAL_DAYS
    if path not in settings.ENERGY_RENTAL_PROVIDERS or days not in (
        settings.ENERGY_RENTAL_DURATIONS_DAYS
    ):
        warnings.append(
            Warning(
                f"No {days}-day quotes of {path!r} are recorded (ENERGY_RENTAL_PROVIDERS, "
                "ENERGY_RENTAL_DURATIONS_DAYS): automatic top-up has no price to decide on.",
                id="pools.W002",
            )
        )
    return warnings


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
