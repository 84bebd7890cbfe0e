"""Partner staff page (English and Korean): link a TRON wallet with TronLink, add it as a pool.

Any staff member of a partner sees its wallets; only owners may link one or add it as a
pool. The page's script (`partners/static/partners/wallets.js`) only talks to TronLink and
fills the forms; every check is the wallet services' (`pools/services/wallets.py`), the
same the API calls.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_GET, require_POST

from partners.models import WalletChallenge
from partners.selectors import Caller, caller_for_user
from pools.selectors import wallet_get_for_partner, wallet_list_for_partner
from pools.services.wallets import (
    CHALLENGE_EXPIRED,
    CHALLENGE_USED,
    wallet_add_pool,
    wallet_challenge_issue,
    wallet_verify,
)

# What the services say when they refuse, marked for translation here (they speak English
# to the API).
SERVICE_MESSAGES = (
    gettext_noop("No such challenge; ask for a new one."),
    gettext_noop("The challenge has expired; ask for a new one."),
    gettext_noop("This challenge was already used; ask for a new one."),
    gettext_noop("Too many open challenges; sign one or wait a few minutes."),
    gettext_noop("This challenge was issued for another address."),
    gettext_noop("Not a signature: expected 65 bytes as 130 hex digits."),
    gettext_noop("The signature was not made by this address over this challenge's message."),
    gettext_noop("Verify the wallet before adding it as a pool."),
    gettext_noop(
        "This address cannot be added: it must be an activated TRON account (one that has "
        "received TRX) and not already a pool."
    ),
)


class ChallengeForm(forms.Form):
    address = forms.CharField(max_length=64)


class VerifyForm(forms.Form):
    address = forms.CharField(max_length=64)
    signature = forms.CharField(max_length=140)
    label = forms.CharField(max_length=100, required=False)


def _caller(request: HttpRequest, *, owner: bool = False) -> Caller:
    caller = caller_for_user(user=request.user)
    if caller is None:
        raise PermissionDenied("This page is for a partner's staff.")
    if owner and not caller.is_owner:
        raise PermissionDenied("Only the partner's owners may link wallets.")
    return caller


def _refusals(exc: ValidationError) -> list[str]:
    """A service's refusal, every message in the reader's language."""
    found = exc.message_dict.values() if hasattr(exc, "error_dict") else [exc.messages]
    return [gettext(message) for messages_ in found for message in messages_]


def _own_challenge(caller: Caller, nonce: str) -> WalletChallenge:
    """The caller's partner's challenge `nonce`; another partner's is a 404."""
    challenge = WalletChallenge.objects.filter(nonce=nonce).first()
    if challenge is None or challenge.partner_id != caller.partner.pk:
        raise Http404
    return challenge


@login_required
@require_GET
def wallets(request: HttpRequest) -> HttpResponse:
    caller = _caller(request)
    context = {
        "partner": caller.partner,
        "is_owner": caller.is_owner,
        "wallets": list(wallet_list_for_partner(caller=caller)),
    }
    return render(request, "partners/wallets.html", context)


@login_required
@require_POST
def challenge(request: HttpRequest) -> HttpResponse:
    caller = _caller(request, owner=True)
    form = ChallengeForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("TronLink did not give an address; try again."))
        return redirect("pools:wallets")
    try:
        issued = wallet_challenge_issue(
            partner=caller.partner,
            address=form.cleaned_data["address"],
            requested_by_id=caller.user_id,
        )
    except ValidationError as exc:
        for message in _refusals(exc):
            messages.error(request, message)
        return redirect("pools:wallets")
    return redirect("pools:wallet-sign", nonce=issued.nonce)


@login_required
def sign(request: HttpRequest, nonce: str) -> HttpResponse:
    """GET: the challenge to sign. POST: verify TronLink's signature of it."""
    caller = _caller(request, owner=True)
    issued = _own_challenge(caller, nonce)
    errors: list[str] = []
    form = VerifyForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not form.is_valid():
            errors.append(gettext("TronLink did not sign the message; try again."))
        else:
            data = form.cleaned_data
            try:
                wallet = wallet_verify(
                    partner=caller.partner,
                    nonce=issued.nonce,
                    address=data["address"],
                    signature_hex=data["signature"],
                    label=data["label"],
                )
            except ValidationError as exc:
                errors.extend(_refusals(exc))
            else:
                messages.success(
                    request, gettext("Wallet %(address)s is verified.") % {"address": wallet}
                )
                return redirect("pools:wallets")
    elif issued.used_at is not None:
        errors.append(gettext(CHALLENGE_USED))
    elif issued.expires_at <= timezone.now():
        errors.append(gettext(CHALLENGE_EXPIRED))
    issued.refresh_from_db()
    context = {
        "partner": caller.partner,
        "challenge": issued,
        "open": issued.used_at is None and issued.expires_at > timezone.now(),
        "errors": errors,
    }
    return render(request, "partners/wallet_sign.html", context, status=400 if errors else 200)


@login_required
@require_POST
def add_pool(request: HttpRequest, wallet_id: int) -> HttpResponse:
    caller = _caller(request, owner=True)
    wallet = wallet_get_for_partner(caller=caller, wallet_id=wallet_id)
    try:
        pool = wallet_add_pool(wallet=wallet)
    except ValidationError as exc:
        for message in _refusals(exc):
            messages.error(request, message)
    else:
        messages.success(
            request,
            gettext("%(address)s is now a watch-only pool.") % {"address": pool.address},
        )
    return redirect("pools:wallets")
