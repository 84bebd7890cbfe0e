"""Reads about withdrawals."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from partners.models import Customer
from withdrawals.models import Withdrawal


def withdrawal_list_for_customer(*, customer: Customer) -> QuerySet[Withdrawal]:
    return Withdrawal.objects.filter(customer=customer).order_by("-created_at", "-id")


def withdrawal_status_summary() -> dict[str, object]:
    """Withdrawals by status (for the status endpoint)."""
    return {
        "by_status": dict(
            Withdrawal.objects.values_list("status").annotate(n=Count("id")).order_by("status")
        )
    }
