"""The real energy-rental markets' providers, against a local stand-in for each market.

The stand-in answers with the response shapes the markets publish (quoted in
`pools/pricing.py`), records what it was asked, and can fail the ways a remote API fails.
Nothing here reaches the real hosts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from pools.models import PriceQuote
from pools.pricing import FeeeRentalProvider, RentalProviderError, TronSaveRentalProvider
from pools.services.prices import prices_monitor


class Market:
    """A stand-in market: `answer(request) -> (status, body)` decides each response."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: Any = lambda request: (500, {"message": "not set"})
        market = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = {
                    "method": self.command,
                    "path": parts.path,
                    "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "json": json.loads(raw) if raw else None,
                }
                market.requests.append(request)
                status, body = market.answer(request)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()


@pytest.fixture
def market(settings) -> Iterator[Market]:
    stand_in = Market()
    settings.TRONSAVE_API_URL = stand_in.url
    settings.TRONSAVE_API_KEY = "ts-secret-key"
    settings.FEEE_API_URL = stand_in.url + "/open"
    settings.FEEE_API_KEY = "feee-secret-key"
    settings.ENERGY_RENTAL_QUOTE_ENERGY = 32_000
    settings.ENERGY_RENTAL_DURATIONS_DAYS = [1, 3]
    settings.ENERGY_RENTAL_TIMEOUT_SECONDS = 2
    yield stand_in
    stand_in.server.shutdown()


def tronsave_estimate(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The documented success answer, priced 64 sun per energy per day (as documented)."""
    body = request["json"]
    days = body["durationSec"] // 86_400
    return 200, {
        "error": False,
        "message": "Success",
        "data": {
            "unitPrice": 64,
            "durationSec": body["durationSec"],
            "estimateTrx": 64 * body["resourceAmount"] * days,
            "availableResource": body["resourceAmount"],
        },
    }


def feee_price(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The documented answer: 32,000 energy for a day costs 4.4 TRX, service included."""
    days = int(request["query"]["rent_duration"])
    return 200, {
        "code": 0,
        "msg": "ok",
        "request_id": "d30e5f5c-21c1-4975-a982-de3169dd0959",
        "data": {
            "resource_value": int(request["query"]["resource_value"]),
            "pay_amount": 4.4 * days,
            "service_amount": 0.56 * days,
            "rent_duration": days,
            "rent_time_unit": "d",
            "rent_time_second": 86_400 * days,
            "price_in_sun": 120,
        },
    }


def test_tronsave_quotes_each_duration_with_its_key(market):
    market.answer = tronsave_estimate
    quotes = TronSaveRentalProvider().quotes()
    assert [(q.duration_days, q.price_sun, q.min_energy) for q in quotes] == [
        (1, Decimal(64), 32_000),
        (3, Decimal(64), 32_000),
    ]
    first = market.requests[0]
    assert (first["method"], first["path"]) == ("POST", "/v2/order-book/estimate-buy-resource")
    assert first["headers"]["apikey"] == "ts-secret-key"
    assert first["json"] == {
        "resourceType": "ENERGY",
        "resourceAmount": 32_000,
        "durationSec": 86_400,
        "unitPrice": "MEDIUM",
    }
    assert market.requests[1]["json"]["durationSec"] == 3 * 86_400


def test_feee_quotes_the_all_in_price_per_energy_per_day(market):
    market.answer = feee_price
    quotes = FeeeRentalProvider().quotes()
    # 4.4 TRX / 32,000 energy / 1 day = 137.5 sun, service fee included.
    assert [(q.duration_days, q.price_sun) for q in quotes] == [
        (1, Decimal("137.5")),
        (3, Decimal("137.5")),
    ]
    first = market.requests[0]
    assert (first["method"], first["path"]) == ("GET", "/open/v2/order/price")
    assert first["headers"]["key"] == "feee-secret-key"
    assert first["query"] == {
        "resource_value": "32000",
        "rent_duration": "1",
        "rent_time_unit": "d",
    }


FILLABLE = {"durationSec": 86_400, "availableResource": 32_000}


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        # A market that echoes the key back: the error still never carries it.
        (
            401,
            {"error": True, "message": "TSAS:107 INVALID_API_KEY ts-secret-key", "data": None},
            r"HTTP 401: TSAS:107 INVALID_API_KEY \*\*\*",
        ),
        (200, {"error": True, "message": "TSAS:999 SOMETHING", "data": None}, "TSAS:999"),
        (
            400,
            {"statusCode": 400, "code": "FST_ERR_VALIDATION", "message": "body must have ..."},
            "HTTP 400: body must have",
        ),
        (502, b"<html>bad gateway</html>", "HTTP 502 without a JSON object"),
        (200, {"error": False, "data": {"unitPrice": "cheap", **FILLABLE}}, "unitPrice is not a"),
        (200, {"error": False, "data": {"unitPrice": 0, **FILLABLE}}, "must be a positive"),
        (200, {"error": False, "data": {"unitPrice": 10**9, **FILLABLE}}, "beyond any real"),
        (200, {"error": False, "data": {**FILLABLE, "durationSec": 3600}}, "another duration"),
        (200, {"error": False, "data": FILLABLE}, "unitPrice is not a number"),
        (
            200,
            {"error": False, "data": {"unitPrice": 74, **FILLABLE, "availableResource": 31_999}},
            "cannot fill 32000 energy",
        ),
        (200, {"error": False, "data": [1, 2]}, "tronsave: $"),
    ],
)
def test_tronsave_refuses_what_it_cannot_read(market, status, body, message):
    market.answer = lambda request: (status, body)
    with pytest.raises(RentalProviderError, match=message) as failure:
        TronSaveRentalProvider().quotes()
    assert "ts-secret-key" not in str(failure.value)


@pytest.mark.parametrize(
    ("envelope", "data", "message"),
    [
        (
            {"code": 10001, "msg": "invalid key feee-secret-key", "data": None},
            {},
            r"feee: invalid key \*\*\*$",
        ),
        ({}, {"pay_amount": -1}, "pay_amount must be a positive number"),
        ({}, {"pay_amount": True}, "pay_amount is not a number"),
        ({}, {"pay_amount": "4.4 TRX"}, "pay_amount is not a number"),
        ({}, {"rent_time_unit": "h"}, "another order than asked"),
        ({}, {"resource_value": 65_000}, "another order than asked"),
    ],
)
def test_feee_refuses_what_it_cannot_read(market, envelope, data, message):
    def answer(request):
        status, body = feee_price(request)
        body["data"].update(data)
        return status, {**body, **envelope}

    market.answer = answer
    with pytest.raises(RentalProviderError, match=message) as failure:
        FeeeRentalProvider().quotes()
    assert "feee-secret-key" not in str(failure.value)


def test_feee_refuses_terms_it_does_not_rent(market, settings):
    settings.ENERGY_RENTAL_DURATIONS_DAYS = [1, 60]
    with pytest.raises(ImproperlyConfigured, match="at most 30 days"):
        FeeeRentalProvider()


def test_an_unreachable_market_is_a_provider_error(settings):
    settings.TRONSAVE_API_KEY = "ts-secret-key"
    settings.TRONSAVE_API_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(RentalProviderError, match="unreachable"):
        TronSaveRentalProvider().quotes()


def test_a_slow_market_times_out(market, settings):
    release = threading.Event()

    def stall(request):
        release.wait(5)
        return tronsave_estimate(request)

    market.answer = stall
    settings.ENERGY_RENTAL_TIMEOUT_SECONDS = 0.3
    try:
        with pytest.raises(RentalProviderError, match="unreachable"):
            TronSaveRentalProvider().quotes()
    finally:
        release.set()


def test_a_provider_without_its_key_is_refused_and_reported(settings):
    settings.TRONSAVE_API_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="TRONSAVE_API_KEY"):
        TronSaveRentalProvider()
    settings.ENERGY_RENTAL_PROVIDERS = ["pools.pricing.TronSaveRentalProvider", "pools.nope.X"]
    ids = [message.id for message in run_checks(tags=["pools"]) if message.is_serious()]
    assert ids == ["pools.E001", "pools.E001"]


def test_bad_rental_settings_are_reported(settings):
    settings.ENERGY_RENTAL_PROVIDERS = ["pools.pricing.DevnetRentalProvider"]
    settings.ENERGY_RENTAL_DURATIONS_DAYS = [1, 0]
    settings.ENERGY_RENTAL_QUOTE_ENERGY = 0
    assert [message.id for message in run_checks(tags=["pools"])] == ["pools.E002", "pools.E003"]


@pytest.mark.django_db
def test_monitor_records_real_market_quotes_beside_a_failing_one(market, devnet, settings):
    def answer(request):
        if request["path"].startswith("/open/"):
            return 503, {"code": 503, "msg": "maintenance"}
        return tronsave_estimate(request)

    market.answer = answer
    settings.ENERGY_RENTAL_PROVIDERS = [
        "pools.pricing.TronSaveRentalProvider",
        "pools.pricing.FeeeRentalProvider",
        "pools.pricing.NoSuchProvider",  # misconfigured: skipped, like a failing one
    ]
    assert prices_monitor() == 2 + 2  # chain fees, TronSave's two durations; Feee skipped
    rentals = PriceQuote.objects.filter(kind="rental").order_by("duration_days")
    assert [(r.source, r.duration_days, r.price_sun) for r in rentals] == [
        ("tronsave", 1, Decimal(64)),
        ("tronsave", 3, Decimal(64)),
    ]


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ({"state": "delivered"}, "has no id"),
        ({"id": "", "state": "delivered"}, "has no id"),
        ({"id": None, "state": "delegating"}, "has no id"),
        ({"id": True, "state": "delegating"}, "has no id"),
        ({"id": 7, "state": "delivered", "delegated_sun": "lots"}, "not a number"),
        ({"id": 7, "state": "lost"}, "unknown order state"),
    ],
)
def test_an_unreadable_market_order_is_an_unclear_answer(order, message):
    """The devnet market's order answers are read strictly: an order without its id (it
    could never be followed) or with an unreadable number is a provider error, which the
    drive asks again about; never an exception that stops every order's drive."""
    from pools.pricing import DevnetRentalProvider

    with pytest.raises(RentalProviderError, match=message):
        DevnetRentalProvider()._status(order)
    status = DevnetRentalProvider()._status({"id": 7, "state": "delivered", "delegated_sun": 5})
    assert (status.market_order_id, status.state, status.delegated_sun) == ("7", "delivered", 5)
