"""Filters of the customer's pages: `{% load withdrawal_pages %}`."""

from __future__ import annotations

from decimal import Decimal

from django import template

from withdrawals.presentation import (
    format_amount,
    format_sun_as_trx,
    service_message,
    status_label,
    step_label,
)

register = template.Library()


@register.filter
def amount(value: Decimal | str | int | None) -> str:
    """`100.000000` → `100`; `1234.5` → `1,234.5`."""
    return format_amount(value)


@register.filter
def trx(sun: int | None) -> str:
    """Sun as TRX: `13373500` → `13.3735`."""
    return format_sun_as_trx(sun)


@register.filter
def status_word(status: str) -> str:
    return status_label(status)


@register.filter
def step_word(step: str) -> str:
    return step_label(step)


@register.filter
def service_text(message: str) -> str:
    """A service's message (a refusal, a failure reason) in the active language."""
    return service_message(message)
