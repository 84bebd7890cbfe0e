"""End-user pages (server-rendered, English and Korean): login, the withdrawal form with
the energy notice, a live status page, and the history."""

from __future__ import annotations

import uuid

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from common.errors import DependencyUnavailable
from common.idempotency import IdempotencyInFlight, IdempotencyMismatch
from common.tron import validate_tron_address
from partners.models import Customer
from partners.selectors import customer_get_for_user
from withdrawals.forms import WithdrawalForm
from withdrawals.models import EmergencyFee
from withdrawals.selectors import (
    balances_for_customer,
    energy_status,
    withdrawal_list_for_customer,
    withdrawal_progress,
)
from withdrawals.services.emergency import emergency_confirm, emergency_quote
from withdrawals.services.requests import withdrawal_request


class UserLoginView(auth_views.LoginView):
    template_name = "withdrawals/login.html"
    redirect_authenticated_user = True


class UserLogoutView(auth_views.LogoutView):
    pass


def _customer(request: HttpRequest) -> Customer:
    customer = customer_get_for_user(user=request.user)
    if customer is None:
        raise PermissionDenied("This page is for customers of a partner.")
    return customer


@login_required
def history(request: HttpRequest) -> HttpResponse:
    customer = _customer(request)
    page = Paginator(withdrawal_list_for_customer(customer=customer), 25).get_page(
        request.GET.get("page")
    )
    return render(request, "withdrawals/history.html", {"customer": customer, "page": page})


@login_required
def withdraw(request: HttpRequest) -> HttpResponse:
    customer = _customer(request)
    form = WithdrawalForm(request.POST or None, initial={"token": uuid.uuid4()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        key = f"web-{data['token']}"
        try:
            if request.POST.get("mode") == "emergency":
                fee = emergency_quote(
                    customer=customer,
                    to_address=data["to_address"],
                    amount=data["amount"],
                    idempotency_key=key,
                )
                withdrawal = emergency_confirm(
                    withdrawal=fee.withdrawal, paid_with=EmergencyFee.PaidWith.BALANCE
                )
            else:
                withdrawal, _ = withdrawal_request(
                    customer=customer,
                    to_address=data["to_address"],
                    amount=data["amount"],
                    idempotency_key=key,
                )
        except (IdempotencyInFlight, DependencyUnavailable):
            # Keep the token: the request may be going through (a double click's twin), and
            # sending it again must find it, not make a second withdrawal.
            form.add_error(None, gettext("The network is not answering; please try again shortly."))
        except (ValidationError, IdempotencyMismatch) as exc:
            if isinstance(exc, IdempotencyMismatch):
                message = gettext("This form was already sent with other details; send it again.")
                form.add_error(None, message)
            else:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            # Refused, so what comes back is a new request: an emergency quote this one
            # left behind unpaid must not answer a corrected address, amount or mode.
            renewed = request.POST.copy()
            renewed["token"] = str(uuid.uuid4())
            form.data = renewed
        else:
            return redirect("withdrawals:status", withdrawal_id=withdrawal.pk)
    context = {
        "form": form,
        "energy": energy_status(partner_id=customer.partner_id),
        "balances": balances_for_customer(customer=customer),
    }
    return render(request, "withdrawals/withdraw.html", context)


def _own_progress(request: HttpRequest, withdrawal_id: int) -> dict[str, object]:
    progress = withdrawal_progress(customer=_customer(request), withdrawal_id=withdrawal_id)
    if progress is None:
        raise Http404
    return progress


@login_required
def status(request: HttpRequest, withdrawal_id: int) -> HttpResponse:
    progress = _own_progress(request, withdrawal_id)
    return render(request, "withdrawals/status.html", {"progress": progress})


@login_required
@require_GET
def status_json(request: HttpRequest, withdrawal_id: int) -> JsonResponse:
    """What the status page re-fetches: on every live hint, and every few seconds."""
    return JsonResponse(_own_progress(request, withdrawal_id))


@login_required
@require_GET
def check_address(request: HttpRequest) -> JsonResponse:
    """The form checks the address as it is typed."""
    try:
        validate_tron_address(request.GET.get("address", ""))
    except ValidationError as exc:
        return JsonResponse({"valid": False, "message": " ".join(exc.messages)})
    return JsonResponse({"valid": True, "message": ""})
