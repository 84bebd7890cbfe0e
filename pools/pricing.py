"""Energy-rental price providers: where the platform reads what renting energy would cost.

Providers are named by dotted path in `ENERGY_RENTAL_PROVIDERS`. The devnet provider quotes
from the chain itself and is what demos use. Two real markets are built in, each from its
published API reference and enabled by configuration only (tests run them against a local
stand-in that answers with the documented shapes, never against the real hosts):

- `pools.pricing.TronSaveRentalProvider`: TronSave's "Estimate TRX",
  `POST {TRONSAVE_API_URL}/v2/order-book/estimate-buy-resource` with header `apikey`
  (tronsave/tronsave-docs-en, developers/api-reference/buy-resources/api-key/estimate-trx.md).
  `data.unitPrice` is sun per energy per day (the documented example: 64 sun × 32,000 energy ×
  3 days = `estimateTrx` 6,144,000 sun).
- `pools.pricing.FeeeRentalProvider`: Feee.io's "Get order payment amount",
  `GET {FEEE_API_URL}/v2/order/price` with header `key`
  (https://feee.io/doc/en-US/api/order/price.html). `data.pay_amount` is the TRX the order
  costs, service fee included, for `resource_value` energy over `rent_time_second`.

Each real provider quotes an order of `ENERGY_RENTAL_QUOTE_ENERGY` for each of
`ENERGY_RENTAL_DURATIONS_DAYS`, and refuses any answer it cannot read with
`RentalProviderError` (no guessing: a price that is not clearly stated is not recorded).

Ordering (automatic top-up, `ENERGY_RENTAL_ORDER_PROVIDER`): only the devnet market orders
(`tron_devnet/market.py`): the platform pays by a TRX transfer to the market's address, then
orders with the payment's txid, which the market treats as the order's idempotency key, so an
order whose answer was lost is asked for again without paying twice. TronSave's API-key order
(`POST /v2/buy-resource`, developers/api-reference/buy-resources/api-key/create-order.md) is
paid from a prefunded account and takes no idempotency key: a lost answer could not be retried
without risking a second paid order, so ordering from TronSave raises
`RentalOrderingUnsupported`; so does Feee.io, whose order API was not confirmed.

The setting only picks the provider of new orders. An order records its provider's name
(`RentalOrder.provider`) and is paid, placed and followed with the provider registered under
that name (`PROVIDERS_BY_NAME`, `provider_for_order`), so changing the setting never sends a
paid order to a market that was not paid; a provider the setting names must be registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any, Protocol, cast

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from common.tron import SUN_PER_TRX
from pools.chain import chain_client


@dataclass(frozen=True)
class RentalQuote:
    """Energy for `duration_days`, at `price_sun` per energy unit per day, from `min_energy`."""

    price_sun: Decimal
    duration_days: int
    min_energy: int


class RentalProvider(Protocol):
    name: str

    def quotes(self) -> list[RentalQuote]:
        """Current offers. May raise; the caller records what the other providers said."""
        ...


class DevnetRentalProvider:
    """A market model for the devnet: renting is cheaper than burning, more so for longer.

    Priced from the chain's live `getEnergyFee` (burning one energy unit costs that many sun),
    at the discounts rental markets typically offer over burning (docs/decisions.md).
    """

    name = "devnet-market"
    DISCOUNTS = (
        (1, Decimal("0.40")),
        (3, Decimal("0.35")),
        (7, Decimal("0.30")),
        (30, Decimal("0.25")),
    )
    MIN_ENERGY = 65_000

    can_order = True

    def quotes(self) -> list[RentalQuote]:
        energy_fee = chain_client().chain_parameters().energy_fee
        return [
            RentalQuote(
                price_sun=(Decimal(energy_fee) * share).quantize(Decimal("0.000001")),
                duration_days=days,
                min_energy=self.MIN_ENERGY,
            )
            for days, share in self.DISCOUNTS
        ]

    # Ordering: the devnet's market (tron_devnet/market.py, `/market`), on the first node.

    def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        base = (settings.ENERGY_RENTAL_DEVNET_MARKET_URL or settings.TRON_NODE_URLS[0]).rstrip("/")
        try:
            with httpx.Client(
                base_url=base, timeout=settings.ENERGY_RENTAL_TIMEOUT_SECONDS
            ) as client:
                response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RentalProviderError(f"{self.name}: unreachable ({type(exc).__name__})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RentalProviderError(f"{self.name}: HTTP {response.status_code} without JSON")
        if response.status_code in (400, 402, 404, 409):
            raise RentalOrderRefused(f"{self.name}: {str(body.get('error', ''))[:300]}")
        if response.status_code not in (200, 201):
            raise RentalProviderError(
                f"{self.name}: HTTP {response.status_code}: {str(body.get('error', ''))[:200]}"
            )
        return response.status_code, body

    def offer(self) -> MarketOffer:
        _, market = self._request("GET", "/market")
        return MarketOffer(
            provider=self.name,
            address=str(market["address"]),
            prices_sun=tuple((int(p["days"]), Decimal(p["price_sun"])) for p in market["prices"]),
            available_energy=int(market["available_energy"]),
            min_energy=int(market["min_energy"]),
        )

    def place_order(
        self, *, receiver: str, energy: int, days: int, payment_txid: str
    ) -> MarketOrderStatus:
        _, order = self._request(
            "POST",
            "/market/order",
            json={
                "receiver": receiver,
                "energy": energy,
                "days": days,
                "payment_txid": payment_txid,
            },
        )
        return self._status(order)

    def order_status(self, market_order_id: str) -> MarketOrderStatus:
        _, order = self._request("GET", f"/market/order/{market_order_id}")
        return self._status(order)

    def _status(self, order: dict[str, Any]) -> MarketOrderStatus:
        states = {
            "delegating": "pending",
            "delivered": "delivered",
            "failed": "failed",
            "expired": "expired",
        }
        if order.get("state") not in states:
            raise RentalProviderError(f"{self.name}: unknown order state {order.get('state')!r}")
        # An order without its id could never be followed; an unreadable number is an unclear
        # answer like any other (asked again), never an exception that stops the drive.
        order_id = order.get("id")
        if isinstance(order_id, bool) or not isinstance(order_id, int | str) or not str(order_id):
            raise RentalProviderError(f"{self.name}: the order has no id")
        try:
            delegated_sun = int(order.get("delegated_sun") or 0)
        except (TypeError, ValueError):
            raise RentalProviderError(f"{self.name}: delegated_sun is not a number") from None
        return MarketOrderStatus(
            market_order_id=str(order_id)[:64],
            state=states[order["state"]],
            delegate_txid=str(order.get("delegate_txid") or ""),
            delegated_sun=delegated_sun,
            refund_txid=str(order.get("refund_txid") or ""),
            reason=str(order.get("reason") or "")[:300],
        )


class RentalProviderError(Exception):
    """A market could not be reached, refused the request, or answered something unreadable."""


class RentalOrderRefused(RentalProviderError):
    """The market answered that it will not take this order: asking again changes nothing."""


class RentalOrderingUnsupported(RentalProviderError):
    """This provider cannot place orders from the platform (the reason is the message)."""


@dataclass(frozen=True)
class MarketTerms:
    """What ordering `energy` for `days` costs now, where to pay, and what the market has."""

    address: str
    cost_sun: int
    available_energy: int
    min_energy: int


@dataclass(frozen=True)
class MarketOffer:
    """What a market offers now, read in one request: where to pay, its price (sun per energy
    per day) for each duration it rents for, the energy it has and its smallest order."""

    provider: str
    address: str
    prices_sun: tuple[tuple[int, Decimal], ...]
    available_energy: int
    min_energy: int

    def terms(self, *, energy: int, days: int) -> MarketTerms:
        """What `energy` for `days` costs from this offer (`ceil(price × energy × days)` sun);
        `RentalOrderRefused` if the market does not rent for `days`."""
        prices = dict(self.prices_sun)
        if days not in prices:
            raise RentalOrderRefused(f"{self.provider}: does not rent for {days} days")
        cost = (prices[days] * energy * days).to_integral_value(rounding=ROUND_CEILING)
        return MarketTerms(
            address=self.address,
            cost_sun=int(cost),
            available_energy=self.available_energy,
            min_energy=self.min_energy,
        )


@dataclass(frozen=True)
class MarketOrderStatus:
    """A market's order: `state` is pending, delivered, failed or expired."""

    market_order_id: str
    state: str
    delegate_txid: str
    delegated_sun: int
    refund_txid: str
    reason: str


class OrderingProvider(Protocol):
    name: str

    def offer(self) -> MarketOffer:
        """What the market offers now (one request). Raises `RentalProviderError`."""
        ...

    def place_order(
        self, *, receiver: str, energy: int, days: int, payment_txid: str
    ) -> MarketOrderStatus:
        """Idempotent per `payment_txid`. Raises `RentalOrderRefused` (no), or
        `RentalProviderError` (unclear: ask again with the same payment)."""
        ...

    def order_status(self, market_order_id: str) -> MarketOrderStatus: ...


SECONDS_PER_DAY = 86_400
PRICE_PLACES = Decimal("0.000001")
USER_AGENT = "energy-platform/1.0"
# Burning energy costs a few hundred sun per unit; a million is a broken answer, not a price.
MAX_SANE_PRICE = Decimal(1_000_000)


def _decimal(value: Any, *, field: str, source: str) -> Decimal:
    """A positive finite number from a market's JSON, else `RentalProviderError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RentalProviderError(f"{source}: {field} is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise RentalProviderError(f"{source}: {field} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise RentalProviderError(f"{source}: {field} must be a positive number")
    if number > MAX_SANE_PRICE:
        raise RentalProviderError(f"{source}: {field} {number} is beyond any real price")
    return number


class _MarketAPI:
    """What both real markets share: configuration, one HTTP client, JSON or a clear error.

    Error messages name the market and the HTTP status, never the API key or the URL's
    query (an API key in a log is a leaked key).
    """

    name: str
    api_key_setting: str
    url_setting: str

    def __init__(self) -> None:
        self.api_key: str = getattr(settings, self.api_key_setting)
        if not self.api_key:
            raise ImproperlyConfigured(
                f"{type(self).__name__} is enabled in ENERGY_RENTAL_PROVIDERS "
                f"but {self.api_key_setting} is empty."
            )
        self.base_url: str = getattr(settings, self.url_setting).rstrip("/")
        self.energy: int = settings.ENERGY_RENTAL_QUOTE_ENERGY
        self.durations_days: tuple[int, ...] = tuple(settings.ENERGY_RENTAL_DURATIONS_DAYS)

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            timeout=settings.ENERGY_RENTAL_TIMEOUT_SECONDS,
            headers={"User-Agent": USER_AGENT, **self._auth_headers()},
        )

    def _auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RentalProviderError(
                f"{self.name}: HTTP {response.status_code} without a JSON object"
            )
        return body

    def _send(self, client: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RentalProviderError(f"{self.name}: unreachable ({type(exc).__name__})") from None
        body = self._json(response)
        if response.status_code != 200:
            raise RentalProviderError(
                f"{self.name}: HTTP {response.status_code}: {self._said(body, 'message')}"
            )
        return body

    def _said(self, body: dict[str, Any], field: str) -> str:
        """The market's own message, short, and without our key should it echo it."""
        return str(body.get(field, ""))[:200].replace(self.api_key, "***")

    def quotes(self) -> list[RentalQuote]:
        with self._client() as client:
            return [self._quote(client, days) for days in self.durations_days]

    def _quote(self, client: httpx.Client, days: int) -> RentalQuote:
        raise NotImplementedError


class TronSaveRentalProvider(_MarketAPI):
    """TronSave's order book, asked what `ENERGY_RENTAL_QUOTE_ENERGY` would cost per duration."""

    name = "tronsave"
    can_order = False
    ordering_gap = (
        "ordering is not built: TronSave's order (POST /v2/buy-resource) is paid from a "
        "prefunded account and takes no idempotency key, so a lost answer could not be asked "
        "again without risking a second paid order"
    )
    api_key_setting = "TRONSAVE_API_KEY"
    url_setting = "TRONSAVE_API_URL"

    def _auth_headers(self) -> dict[str, str]:
        return {"apikey": self.api_key}

    def _quote(self, client: httpx.Client, days: int) -> RentalQuote:
        body = self._send(
            client,
            "POST",
            "/v2/order-book/estimate-buy-resource",
            json={
                "resourceType": "ENERGY",
                "resourceAmount": self.energy,
                "durationSec": days * SECONDS_PER_DAY,
                # The lowest price that fills the whole order now ("MEDIUM" in their terms).
                "unitPrice": "MEDIUM",
            },
        )
        data = body.get("data")
        if body.get("error") is not False or not isinstance(data, dict):
            raise RentalProviderError(f"{self.name}: {self._said(body, 'message')}")
        if data.get("durationSec") != days * SECONDS_PER_DAY:
            raise RentalProviderError(f"{self.name}: quoted another duration than asked")
        # With too little on offer the "MEDIUM" price is a placeholder (SLOW + 10), not a
        # price the order would fill at: not recorded.
        available = data.get("availableResource")
        if not isinstance(available, int) or available < self.energy:
            raise RentalProviderError(f"{self.name}: the market cannot fill {self.energy} energy")
        price = _decimal(data.get("unitPrice"), field="unitPrice", source=self.name)
        return RentalQuote(
            price_sun=price.quantize(PRICE_PLACES), duration_days=days, min_energy=self.energy
        )


class FeeeRentalProvider(_MarketAPI):
    """Feee.io's order price: the all-in TRX for the order, as sun per energy per day."""

    name = "feee"
    can_order = False
    ordering_gap = "ordering is not built: Feee.io's order API could not be confirmed"
    api_key_setting = "FEEE_API_KEY"
    url_setting = "FEEE_API_URL"

    MAX_DAYS = 30  # "when the time unit is 'd', 1-30"

    def __init__(self) -> None:
        super().__init__()
        if any(days > self.MAX_DAYS for days in self.durations_days):
            raise ImproperlyConfigured(
                f"Feee.io rents for at most {self.MAX_DAYS} days; "
                "ENERGY_RENTAL_DURATIONS_DAYS asks for more."
            )

    def _auth_headers(self) -> dict[str, str]:
        return {"key": self.api_key}

    def _quote(self, client: httpx.Client, days: int) -> RentalQuote:
        body = self._send(
            client,
            "GET",
            "/v2/order/price",
            params={"resource_value": self.energy, "rent_duration": days, "rent_time_unit": "d"},
        )
        data = body.get("data")
        if body.get("code") != 0 or not isinstance(data, dict):
            raise RentalProviderError(f"{self.name}: {self._said(body, 'msg')}")
        term = (data.get("rent_duration"), data.get("rent_time_unit"))
        if term != (days, "d") or data.get("resource_value") != self.energy:
            raise RentalProviderError(f"{self.name}: quoted another order than asked")
        pay_trx = _decimal(data.get("pay_amount"), field="pay_amount", source=self.name)
        per_energy_day = pay_trx * SUN_PER_TRX / self.energy / days
        return RentalQuote(
            price_sun=per_energy_day.quantize(PRICE_PLACES),
            duration_days=days,
            min_energy=self.energy,
        )


def rental_providers(paths: list[str]) -> list[RentalProvider]:
    return [import_string(path)() for path in paths]


# Every provider by the name a `RentalOrder` records (`RentalOrder.provider`): an order is paid,
# placed and followed with the provider of its recorded name, never with whatever
# `ENERGY_RENTAL_ORDER_PROVIDER` names by then (pools/services/rentals.py). A name once used
# by an order stays here for as long as such an order may be open.
PROVIDERS_BY_NAME: dict[str, type[RentalProvider]] = {
    DevnetRentalProvider.name: DevnetRentalProvider,
    TronSaveRentalProvider.name: TronSaveRentalProvider,
    FeeeRentalProvider.name: FeeeRentalProvider,
}


def why_cannot_order(provider_class: type) -> str:
    """Why orders cannot go to `provider_class`, or "" if they can: it must be registered in
    `PROVIDERS_BY_NAME` under its name (so an order naming it finds it again) and order."""
    name = getattr(provider_class, "name", None)
    if not isinstance(name, str) or PROVIDERS_BY_NAME.get(name) is not provider_class:
        return (
            "not a registered rental provider (pools.pricing.PROVIDERS_BY_NAME): an order "
            "records its provider's name and is placed with the provider of that name"
        )
    if not getattr(provider_class, "can_order", False):
        return getattr(provider_class, "ordering_gap", "") or "cannot place orders"
    return ""


def provider_for_order(name: str) -> OrderingProvider:
    """The provider an order recorded as `name` (`RentalOrder.provider`) is paid, placed and
    followed with. Depends on the code alone, never on settings, so two runs cannot disagree
    on it: `RentalOrderingUnsupported` when no provider has that name or it cannot order (a
    planned order is then never paid); `RentalProviderError` when it cannot be built now
    (its configuration)."""
    provider_class = PROVIDERS_BY_NAME.get(name)
    if provider_class is None:
        raise RentalOrderingUnsupported(f"{name!r}: no such rental provider")
    if gap := why_cannot_order(provider_class):
        raise RentalOrderingUnsupported(f"{name}: {gap}")
    try:
        provider = provider_class()
    except ImproperlyConfigured as exc:
        raise RentalProviderError(f"{name}: {exc}") from None
    return cast(OrderingProvider, provider)


def ordering_provider() -> OrderingProvider:
    """The provider new orders go to: the one `ENERGY_RENTAL_ORDER_PROVIDER` names.
    `RentalOrderingUnsupported` if it cannot order or is not registered in
    `PROVIDERS_BY_NAME`. An order, once planned, is never sent through this again
    (`provider_for_order` of its recorded name)."""
    path = settings.ENERGY_RENTAL_ORDER_PROVIDER
    provider_class = import_string(path)
    if gap := why_cannot_order(provider_class):
        raise RentalOrderingUnsupported(f"{getattr(provider_class, 'name', path)}: {gap}")
    return provider_for_order(provider_class.name)
