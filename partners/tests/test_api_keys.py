"""API keys: stored hashed, shown once, scoped to one partner, revocable, last use recorded."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from partners.models import APIKey, Role
from partners.selectors import api_key_digest
from partners.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db

ME = "/api/v1/partners/me/"


def client_with(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client


def test_key_is_stored_only_as_digest(partner):
    issued = api_key_create(partner=partner, name="ci")
    row = APIKey.objects.get(pk=issued.api_key.pk)
    assert issued.raw_key.startswith(f"ep_{row.prefix}_")
    assert row.hashed_key == api_key_digest(issued.raw_key)
    stored = " ".join(str(v) for v in APIKey.objects.filter(pk=row.pk).values().first().values())
    assert issued.raw_key not in stored
    # The secret may itself contain "_": take everything after the prefix.
    assert issued.raw_key.removeprefix(f"ep_{row.prefix}_") not in stored


def test_key_authenticates_as_its_partner(partner):
    issued = api_key_create(partner=partner, name="ci", role=Role.VIEWER)
    response = client_with(issued.raw_key).get(ME)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["role"]) == (partner.pk, "viewer")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # wrong secret, right prefix
        lambda k: "ep_deadbeef_" + k.split("_", 2)[2],  # unknown prefix
        lambda k: "garbage",
        lambda k: k.replace("_", "-"),
    ],
)
def test_wrong_keys_are_refused(partner, mangle):
    issued = api_key_create(partner=partner, name="ci")
    response = client_with(mangle(issued.raw_key)).get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Api-Key"


def test_malformed_header_is_refused(partner):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Api-Key")
    assert client.get(ME).status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Api-Key a b")
    assert client.get(ME).status_code == 401


def test_revoked_key_stops_working_at_once(partner):
    issued = api_key_create(partner=partner, name="ci")
    client = client_with(issued.raw_key)
    assert client.get(ME).status_code == 200
    assert api_key_revoke(api_key=issued.api_key) is True
    assert api_key_revoke(api_key=issued.api_key) is False  # idempotent
    assert client.get(ME).status_code == 401


def test_key_of_suspended_partner_is_refused(partner):
    issued = api_key_create(partner=partner, name="ci")
    partner.status = partner.Status.SUSPENDED
    partner.save()
    assert client_with(issued.raw_key).get(ME).status_code == 403


def test_last_used_is_recorded_at_most_once_a_minute(partner):
    issued = api_key_create(partner=partner, name="ci")
    assert issued.api_key.last_used_at is None
    client = client_with(issued.raw_key)
    client.get(ME)
    first = APIKey.objects.get(pk=issued.api_key.pk).last_used_at
    assert first is not None
    client.get(ME)
    assert APIKey.objects.get(pk=issued.api_key.pk).last_used_at == first
    APIKey.objects.filter(pk=issued.api_key.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get(ME)
    assert APIKey.objects.get(pk=issued.api_key.pk).last_used_at > first - timedelta(minutes=1)
    assert APIKey.objects.get(pk=issued.api_key.pk).last_used_at <= timezone.now()


@pytest.fixture
def three_a_minute():
    """DRF reads throttle rates once, at import: swap them in and back out."""
    from rest_framework.throttling import SimpleRateThrottle

    saved = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = {**saved, "caller": "3/min"}
    yield
    SimpleRateThrottle.THROTTLE_RATES = saved


def test_throttle_is_per_key(partner, other_partner, three_a_minute):
    # Fresh keys: primary keys never repeat, so no other test shares these counters.
    mine = client_with(api_key_create(partner=partner, name="a").raw_key)
    theirs = client_with(api_key_create(partner=other_partner, name="b").raw_key)
    assert [mine.get(ME).status_code for _ in range(4)] == [200, 200, 200, 429]
    error = mine.get(ME).json()["error"]
    assert (error["status"], error["code"]) == (429, "throttled")
    assert theirs.get(ME).status_code == 200


def test_throttle_window_slides_and_says_when_to_retry(partner, three_a_minute):
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from partners.throttling import CallerRateThrottle

    key = api_key_create(partner=partner, name="slide").api_key
    request = Request(APIRequestFactory().get(ME))
    request._authenticator = None
    request._user, request._auth = None, key
    start = 60 * 10_000_000  # a window boundary, far from any real test's windows

    def hit(at: float) -> tuple[bool, float | None]:
        throttle = CallerRateThrottle()
        throttle.timer = lambda: at
        allowed = throttle.allow_request(request, None)
        return allowed, None if allowed else throttle.wait()

    assert [hit(start + s)[0] for s in (1, 2, 3)] == [True, True, True]
    # Refused, and not counted. It fits again once 3 × (1 − t/60) + 1 ≤ 3, t = 20 s into
    # the next window: 56 + 20 seconds from now.
    assert hit(start + 4) == (False, 76)
    assert hit(start + 5) == (False, 75)
    assert hit(start + 79)[0] is False
    assert hit(start + 80)[0] is True  # 3 × 2/3 + 0 + 1 = 3
    # 3 × (1 − 21/60) + 1 + 1 > 3; fits when 3 × (1 − t/60) + 2 ≤ 3: t = 40, 19 s later.
    assert hit(start + 81) == (False, 19)
    assert hit(start + 100)[0] is True
    assert hit(start + 240)[0] is True  # two windows later nothing is left


def test_throttle_falls_back_to_drf_with_another_cache(partner, three_a_minute, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    mine = client_with(api_key_create(partner=partner, name="locmem").raw_key)
    assert [mine.get(ME).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_keys_with_underscores_in_the_secret_work(partner):
    for _ in range(20):  # token_urlsafe often contains "_" and "-"
        issued = api_key_create(partner=partner, name="many")
        assert client_with(issued.raw_key).get(ME).status_code == 200


@pytest.fixture
def tight_limits():
    """Anonymous callers 5 a minute, invalid keys 3 a minute."""
    from rest_framework.throttling import SimpleRateThrottle

    saved = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = {**saved, "anon": "5/min", "api_key_failures": "3/min"}
    yield
    SimpleRateThrottle.THROTTLE_RATES = saved


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_anonymous_burst_gets_exactly_the_limit_through(tight_limits):
    """The anonymous limit is one atomic Redis step: 20 requests at once, 5 through."""
    import threading

    from django.db import connection
    from django.test import Client

    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def hit() -> None:
        try:
            client = Client(REMOTE_ADDR="203.0.113.7")
            barrier.wait()
            statuses.append(client.get("/api/v1/health").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=hit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(429) == 15, statuses
    assert Client(REMOTE_ADDR="198.51.100.9").get("/api/v1/health").status_code != 429


def test_guessing_api_keys_is_refused_after_the_limit_even_a_right_one(partner, tight_limits):
    from rest_framework.test import APIClient

    from partners.tests.factories import APIKeyFactory, raw_key_for

    guesser = APIClient(REMOTE_ADDR="203.0.113.8")
    for n in range(3):
        guesser.credentials(HTTP_AUTHORIZATION=f"Api-Key ep_guess{n}_secret-nope")
        assert guesser.get("/api/v1/partners/me/").status_code == 401
    guesser.credentials(HTTP_AUTHORIZATION="Api-Key ep_guess9_secret-nope")
    refused = guesser.get("/api/v1/partners/me/")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    key = APIKeyFactory(partner=partner)
    guesser.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key_for(key.prefix)}")
    assert guesser.get("/api/v1/partners/me/").status_code == 429  # a right guess too
    elsewhere = APIClient(REMOTE_ADDR="198.51.100.10")
    elsewhere.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key_for(key.prefix)}")
    assert elsewhere.get("/api/v1/partners/me/").status_code == 200
