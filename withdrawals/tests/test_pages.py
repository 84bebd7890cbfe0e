"""End-user pages: session login and the customer's own history."""

import pytest
from django.test import Client

from partners.tests.factories import TEST_PASSWORD, CustomerFactory, MembershipFactory
from withdrawals.tests.factories import WithdrawalFactory

pytestmark = pytest.mark.django_db


def test_history_requires_login():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_customer_logs_in_and_sees_only_own_withdrawals():
    customer = CustomerFactory(user__username="alice")
    mine = WithdrawalFactory(customer=customer, partner=customer.partner)
    theirs = WithdrawalFactory()
    client = Client()
    response = client.post("/login/", {"username": "alice", "password": TEST_PASSWORD})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert mine.to_address in page
    assert theirs.to_address not in page


def test_wrong_password_shows_the_form_again():
    CustomerFactory(user__username="alice")
    response = Client().post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()


def test_partner_staff_is_not_a_customer():
    membership = MembershipFactory()
    client = Client()
    client.force_login(membership.user)
    assert client.get("/").status_code == 403


def test_pages_speak_korean():
    customer = CustomerFactory()
    client = Client()
    client.force_login(customer.user)
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'lang="ko"' in page
