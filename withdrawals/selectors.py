"""Reads about withdrawals, customers and balances. Partner scope is applied here."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.http import Http404

from partners.models import Customer
from partners.selectors import Caller
from withdrawals.models import Balance, Withdrawal


def withdrawal_list_for_customer(*, customer: Customer) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(customer=customer).order_by("-created_at", "-id")


def withdrawal_list_for_partner(*, caller: Caller) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(partner_id=caller.partner.pk).order_by("-created_at", "-id")


def withdrawal_get_for_partner(*, caller: Caller, withdrawal_id: int) -> Withdrawal:
    withdrawal = Withdrawal.objects.filter(pk=withdrawal_id).first()
    if withdrawal is None or withdrawal.partner_id != caller.partner.pk:
        raise Http404
    return withdrawal


def customer_list_for_partner(*, caller: Caller) -> QuerySet[Customer]:
    return Customer.objects.filter(partner_id=caller.partner.pk).order_by("external_ref", "id")


def customer_get_for_partner(*, caller: Caller, customer_id: int) -> Customer:
    customer = Customer.objects.select_related("partner").filter(pk=customer_id).first()
    if customer is None or customer.partner_id != caller.partner.pk:
        raise Http404
    return customer


def balances_for_customer(*, customer: Customer) -> QuerySet[Balance]:
    return Balance.objects.filter(customer=customer).order_by("currency")


def withdrawal_status_summary() -> dict[str, object]:
    """Withdrawals by status (for the status endpoint)."""
    return {
        "by_status": dict(
            Withdrawal.objects.values_list("status").annotate(n=Count("id")).order_by("status")
        )
    }
