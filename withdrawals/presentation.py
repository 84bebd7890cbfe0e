"""How the customer's pages say things: amounts, status words, and refusals in the
customer's language (English or Korean)."""

from __future__ import annotations

from decimal import Decimal

from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from common.tron import SUN_PER_TRX
from withdrawals.models import Withdrawal
from withdrawals.selectors import Step

Status = Withdrawal.Status

STATUS_LABELS: dict[str, Promise] = {
    Status.REQUESTED: _("Requested"),
    Status.QUEUED: _("Queued"),
    Status.RESERVED: _("Reserved"),
    Status.SIGNED: _("Signed"),
    Status.BROADCAST: _("Sent"),
    Status.CONFIRMED: _("Confirmed"),
    Status.FAILED: _("Failed"),
    Status.CANCELLED: _("Cancelled"),
}

STEP_LABELS: dict[str, Promise] = {
    Step.REQUESTED: _("Requested"),
    Step.QUEUED: _("Waiting for energy"),
    Step.RESERVED: _("Energy reserved"),
    Step.PAID: _("Network fee paid"),
    Step.SIGNED: _("Signed"),
    Step.SENT: _("Sent to the network"),
    Step.CONFIRMED: _("Confirmed"),
    Step.FAILED: _("Failed"),
    Step.CANCELLED: _("Cancelled"),
}

# What the services say when they refuse, marked for translation here (they speak English
# to the API); a message not listed is shown as it is.
SERVICE_MESSAGES = (
    gettext_noop("The partner has no active pool that can send withdrawals."),
    gettext_noop("The partner has no emergency wallet to send from."),
    gettext_noop("The USDT balance does not cover this amount."),
    gettext_noop("The TRX balance does not cover this amount."),
    gettext_noop("The TRX balance does not cover the fee."),
    gettext_noop("The balance would exceed the largest amount it can hold."),
    gettext_noop("The quote has expired; ask for a new one."),
    gettext_noop("No TRX transfer with this txid."),
    gettext_noop("The payment is not confirmed yet."),
    gettext_noop("The payment failed on chain."),
    gettext_noop("The payment went to another address."),
    gettext_noop("The payment is less than the quoted fee."),
    gettext_noop("The payment was not made within the quote."),
    gettext_noop("This payment was already used."),
    gettext_noop("This withdrawal is already paid."),
    gettext_noop("The withdrawal is cancelled."),
    gettext_noop(
        "The withdrawal was cancelled before this payment was confirmed; "
        "the payment was credited to the TRX balance."
    ),
    gettext_noop("Not an emergency withdrawal."),
    gettext_noop("quote expired unpaid"),
)


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def step_label(step: str) -> str:
    return str(STEP_LABELS.get(step, step))


def service_message(message: str) -> str:
    """A service's refusal in the active language."""
    return gettext(message)


def format_amount(value: Decimal | str | int | None) -> str:
    """An amount as people write it: no trailing zeros, no exponent, thousands grouped
    (`100.000000` → `100`, `1234.5` → `1,234.5`)."""
    if value is None or value == "":
        return ""
    amount = Decimal(value)
    if amount == 0:
        return "0"
    return f"{amount.normalize():,f}"


def format_sun_as_trx(sun: int | None) -> str:
    """Sun as TRX, without trailing zeros (`13373500` → `13.3735`)."""
    if sun is None:
        return ""
    return format_amount(Decimal(sun) / SUN_PER_TRX)
