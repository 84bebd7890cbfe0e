"""Security headers on every page: a Content-Security-Policy whose only inline scripts are
the response's own (nonce), no framing, a strict referrer policy; API docs served locally."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {
        part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
        for part in (p.strip() for p in header.split(";"))
        if part
    }


@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/api/docs/"])
def test_pages_carry_a_content_security_policy(path):
    response = Client().get(path)
    assert response.status_code == 200, path
    policy = _policy(response)
    assert policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_every_inline_script_carries_the_responses_nonce(client):
    from partners.tests.factories import CustomerFactory

    customer = CustomerFactory()
    client.force_login(customer.user)
    response = client.get("/withdraw/")
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", _policy(response)["script-src"]).group(1)
    page = response.content.decode()
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page)
    assert inline, "the page has inline scripts to check"
    assert all(f'nonce="{nonce}"' in attrs for attrs in inline)
    assert (
        client.get("/withdraw/")["Content-Security-Policy"] != response["Content-Security-Policy"]
    )


def test_api_docs_load_nothing_from_elsewhere():
    page = Client().get("/api/docs/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources
    assert all(s.startswith("/") for s in sources), sources
