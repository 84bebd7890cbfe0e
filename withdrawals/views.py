"""End-user pages (server-rendered): login and withdrawal history."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from partners.selectors import customer_get_for_user
from withdrawals.selectors import withdrawal_list_for_customer


class UserLoginView(auth_views.LoginView):
    template_name = "withdrawals/login.html"
    redirect_authenticated_user = True


class UserLogoutView(auth_views.LogoutView):
    pass


@login_required
def history(request: HttpRequest) -> HttpResponse:
    customer = customer_get_for_user(user=request.user)
    if customer is None:
        raise PermissionDenied("This page is for customers of a partner.")
    page = Paginator(withdrawal_list_for_customer(customer=customer), 25).get_page(
        request.GET.get("page")
    )
    return render(request, "withdrawals/history.html", {"customer": customer, "page": page})
