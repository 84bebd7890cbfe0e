"""End-user pages (server-rendered, English and Korean): login, the withdrawal form with
the energy notice, the emergency fee's payment, a live status page, and the history."""

from __future__ import annotations

import uuid

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from common.tron import SUN_PER_TRX, validate_tron_address
from partners.models import Customer
from partners.selectors import customer_get_for_user
from withdrawals.forms import EmergencyPaymentForm, WithdrawalForm
from withdrawals.models import Currency, EmergencyFee, Withdrawal
from withdrawals.presentation import format_amount, service_message, status_label
from withdrawals.qr import qr_svg
from withdrawals.selectors import (
    WithdrawalTimeline,
    balance_available,
    balances_for_customer,
    emergency_fee_for,
    energy_status,
    withdrawal_get_for_customer,
    withdrawal_list_for_customer,
    withdrawal_timeline,
)
from withdrawals.services.customer_requests import (
    NON_FIELD,
    Refused,
    emergency_pay,
    withdrawal_submit,
)

HISTORY_PAGE_SIZE = 20


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


def _own_withdrawal(request: HttpRequest, withdrawal_id: int) -> Withdrawal:
    """The logged-in customer's withdrawal; another's is a 404, as if it did not exist."""
    withdrawal = withdrawal_get_for_customer(
        customer=_customer(request), withdrawal_id=withdrawal_id
    )
    if withdrawal is None:
        raise Http404
    return withdrawal


def _posted(request: HttpRequest) -> QueryDict | None:
    """A POST's data, even when empty (an empty POST is a bound form: its errors show)."""
    return request.POST if request.method == "POST" else None


def _show_refusal(form: Form, refusal: Refused) -> None:
    """Put a service's refusal on the form, in the customer's language."""
    if refusal.same_key_again:
        form.add_error(None, gettext("The network is not answering; please try again shortly."))
    elif refusal.code == "mismatch":
        message = gettext("This form was already sent with other details; send it again.")
        form.add_error(None, message)
    else:
        for field, messages in refusal.errors.items():
            target = field if field in form.fields and field != NON_FIELD else None
            form.add_error(target, [service_message(message) for message in messages])


@login_required
def history(request: HttpRequest) -> HttpResponse:
    customer = _customer(request)
    paginator = Paginator(withdrawal_list_for_customer(customer=customer), HISTORY_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    numbers = paginator.get_elided_page_range(page.number, on_each_side=1, on_ends=1)
    context = {"customer": customer, "page": page, "page_numbers": list(numbers)}
    return render(request, "withdrawals/history.html", context)


@login_required
def withdraw(request: HttpRequest) -> HttpResponse:
    customer = _customer(request)
    form = WithdrawalForm(_posted(request), initial={"token": uuid.uuid4()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            withdrawal = withdrawal_submit(
                customer=customer,
                to_address=data["to_address"],
                amount=data["amount"],
                mode=data["mode"],
                idempotency_key=f"web-{data['token']}",
            )
        except Refused as refusal:
            _show_refusal(form, refusal)
            if not refusal.same_key_again:
                # Refused, so what comes back is a new request: an emergency quote this
                # one left behind must not answer a corrected address, amount or mode.
                # (Otherwise the token stays: a twin of this request may be going through,
                # and sending it again must find it, not make a second withdrawal.)
                renewed = request.POST.copy()
                renewed["token"] = str(uuid.uuid4())
                form.data = renewed
        else:
            if withdrawal.mode == Withdrawal.Mode.EMERGENCY:
                return redirect("withdrawals:pay", withdrawal_id=withdrawal.pk)
            return redirect("withdrawals:status", withdrawal_id=withdrawal.pk)
    context = {
        "form": form,
        "energy": energy_status(partner_id=customer.partner_id),
        "balances": balances_for_customer(customer=customer),
    }
    return render(request, "withdrawals/withdraw.html", context)


@login_required
def pay(request: HttpRequest, withdrawal_id: int) -> HttpResponse:
    """An emergency withdrawal's fee: the amount, the address to pay it to (with a QR code)
    and the quote's deadline; paid from the TRX balance, or on chain and confirmed here by
    the payment's transaction id."""
    withdrawal = _own_withdrawal(request, withdrawal_id)
    fee = emergency_fee_for(withdrawal=withdrawal)
    if fee is None:
        raise Http404  # a standard withdrawal has no fee to pay
    if fee.paid_at is not None:
        return redirect("withdrawals:status", withdrawal_id=withdrawal.pk)
    form = EmergencyPaymentForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            emergency_pay(
                withdrawal=withdrawal,
                paid_with=EmergencyFee.PaidWith(form.cleaned_data["paid_with"]),
                payment_txid=form.cleaned_data["payment_txid"] or None,
            )
        except Refused as refusal:
            _show_refusal(form, refusal)
        else:
            return redirect("withdrawals:status", withdrawal_id=withdrawal.pk)
    assert withdrawal.pool is not None  # an emergency withdrawal is sent from the wallet
    trx = balance_available(customer=withdrawal.customer, currency=Currency.TRX)
    context = {
        "withdrawal": withdrawal,
        "fee": fee,
        "pay_to": withdrawal.pool.address,
        "qr": qr_svg(withdrawal.pool.address, label=gettext("QR code of the address to pay")),
        "expired": fee.expires_at <= timezone.now(),
        "cancelled": withdrawal.status == Withdrawal.Status.CANCELLED,
        "trx_available": trx,
        "balance_covers": trx * SUN_PER_TRX >= fee.quoted_fee_sun,
        "form": form,
    }
    return render(request, "withdrawals/pay.html", context)


def _timeline(request: HttpRequest, withdrawal_id: int) -> WithdrawalTimeline:
    return withdrawal_timeline(withdrawal=_own_withdrawal(request, withdrawal_id))


@login_required
def status(request: HttpRequest, withdrawal_id: int) -> HttpResponse:
    timeline = _timeline(request, withdrawal_id)
    return render(request, "withdrawals/status.html", {"timeline": timeline})


@login_required
@require_GET
def status_json(request: HttpRequest, withdrawal_id: int) -> JsonResponse:
    """What the status page re-fetches: on every live hint, and every few seconds. `html`
    is the timeline as the page shows it, in the customer's language."""
    timeline = _timeline(request, withdrawal_id)
    w = timeline.withdrawal
    attempt = timeline.attempt
    return JsonResponse(
        {
            "id": w.pk,
            "status": w.status,
            "status_display": status_label(w.status),
            "mode": w.mode,
            "amount": format_amount(w.amount),
            "to_address": w.to_address,
            "queue_position": timeline.queue.position if timeline.queue else None,
            "wait_minutes": timeline.wait_minutes,
            "txid": attempt.txid if attempt else None,
            "block_number": attempt.block_number if attempt else None,
            "confirmations": timeline.confirmations,
            "explorer_url": timeline.explorer_url,
            "steps": [
                {"step": s.step, "state": s.state, "at": s.at.isoformat() if s.at else None}
                for s in timeline.steps
            ],
            "energy_used": w.energy_used,
            "trx_burned_sun": w.trx_burned_sun,
            "fee_paid_sun": timeline.fee.quoted_fee_sun if timeline.fee else None,
            "saved_sun": timeline.saved_sun,
            "failure_reason": w.failure_reason,
            "final": timeline.final,
            "updated_at": w.updated_at.isoformat(),
            "html": render_to_string("withdrawals/_timeline.html", {"timeline": timeline}, request),
        }
    )


@login_required
@require_GET
def check_address(request: HttpRequest) -> JsonResponse:
    """The form checks the address as it is typed."""
    try:
        validate_tron_address(request.GET.get("address", ""))
    except ValidationError as exc:
        return JsonResponse({"valid": False, "message": " ".join(exc.messages)})
    return JsonResponse({"valid": True, "message": ""})
