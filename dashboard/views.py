"""The pages: the operators' console (inside the admin, behind its second factor) and the
partner dashboard (partner staff, session login, their own partner only).

Both are server-rendered from the same selectors as the JSON endpoints
(`dashboard/selectors.py`); `static/dashboard/dashboard.js` then keeps them live: it listens
on `/ws/live/`, and on every (re)connect and every hint re-fetches the JSON endpoint and
patches the cards in place.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError

from alerts.selectors import alert_get_for_staff
from alerts.services import alert_acknowledge
from common.api.render import iso_datetime, output_timezone
from dashboard.apis import GlobalDashboardOutputSerializer, dashboard_output
from dashboard.selectors import global_dashboard, partner_dashboard
from partners.models import Partner
from partners.selectors import caller_for_user
from pools.models import EnergyPool


def _strings() -> dict[str, str]:
    """What the script writes on the page, translated here."""
    return {
        "live": str(_("Live")),
        "reconnecting": str(_("Reconnecting…")),
        "used": str(_("Used")),
        "available": str(_("Available")),
        "saved": str(_("TRX saved (pooled energy)")),
        "burned": str(_("TRX burned")),
        "forecast": str(_("Forecast")),
        "all_pools": str(_("All pools")),
        "sustainable": str(_("sustainable")),
        "days": str(_("days")),
    }


@login_required(login_url="withdrawals:login")
def partner_dashboard_page(request: HttpRequest) -> HttpResponse:
    """The signed-in staff member's partner: cards, charts, queue, withdrawals, alerts."""
    caller = caller_for_user(user=request.user)
    if caller is None:  # a customer or a stranger: no partner to show
        raise Http404
    data = dashboard_output(partner_dashboard(partner_id=caller.partner.pk))
    config: dict[str, Any] = {
        "dashboardUrl": reverse("dashboard-api:dashboard", args=[caller.partner.pk]),
        "analyticsUrl": reverse("dashboard-api:analytics", args=[caller.partner.pk]),
        "strings": _strings(),
    }
    return render(
        request,
        "dashboard/partner.html",
        {"partner": caller.partner, "role": caller.role, "data": data, "config": config},
    )


class ConsoleFilterForm(forms.Form):
    partner = forms.ModelChoiceField(
        queryset=Partner.objects.order_by("name"), required=False, label=_("Partner")
    )
    status = forms.ChoiceField(
        choices=[("", _("Any status")), *EnergyPool.Status.choices],
        required=False,
        label=_("Status"),
    )


def console_page(request: HttpRequest) -> HttpResponse:
    """The operators' console; served by `admin.site.admin_view`, so staff with a second
    factor only. Bad filters are a 400 with the form's errors."""
    form = ConsoleFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        context = {**admin.site.each_context(request), "form": form, "title": _("Operations")}
        return render(request, "dashboard/console.html", context, status=400)
    cleaned = form.cleaned_data if request.GET else {}
    partner: Partner | None = cleaned.get("partner")
    status: str = cleaned.get("status") or ""
    data = GlobalDashboardOutputSerializer(
        global_dashboard(partner_id=partner.pk if partner else None, status=status or None)
    ).data
    query = {k: v for k, v in (("partner", partner.pk if partner else ""), ("status", status)) if v}
    dashboard_url = reverse("dashboard-api:global-dashboard")
    if query:
        dashboard_url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    config: dict[str, Any] = {
        "dashboardUrl": dashboard_url,
        "analyticsUrl": reverse("dashboard-api:global-analytics"),
        # Acknowledge in place: POST with the CSRF token (console_acknowledge below).
        "ackUrl": reverse("dashboard:console-acknowledge", args=[0]),
        "csrfToken": get_token(request),
        "strings": {
            **_strings(),
            "acknowledge": str(_("Acknowledge")),
            "acknowledged": str(_("acknowledged")),
        },
    }
    context = {
        **admin.site.each_context(request),
        "title": _("Operations"),
        "form": form,
        "data": data,
        "config": config,
        "console": True,
    }
    return render(request, "dashboard/console.html", context)


@require_POST
def console_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    """Acknowledge an open alert from the console (served by `admin.site.admin_view`: staff
    with a second factor, CSRF checked), through the alerts service, which publishes the
    live `alert.acknowledged` hint every open page re-fetches on. The page's script gets
    JSON; a form post without it returns to the console. A resolved alert is a 400."""
    alert = alert_get_for_staff(alert_id=alert_id)
    wants_json = "application/json" in request.headers.get("Accept", "")
    user = request.user
    try:
        alert = alert_acknowledge(alert=alert, user_id=user.pk, label=user.get_username())
    except ValidationError as exc:
        if wants_json:
            return JsonResponse({"error": exc.detail}, status=400)
        return HttpResponse(str(exc.detail), status=400, content_type="text/plain")
    if wants_json:
        return JsonResponse(
            {
                "id": alert.pk,
                "acknowledged_at": iso_datetime(alert.acknowledged_at, output_timezone()),
            }
        )
    return redirect("dashboard:console")
