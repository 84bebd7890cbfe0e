"""An energy-rental market that delivers on chain (``/market``, not part of java-tron).

How it works (tron_devnet/README.md, "Rental market"): the market owns a staked account (its key
derived from the chain's seed). A buyer pays first, by an ordinary TRX transfer to the market's
address, then orders with ``POST /market/order {"receiver", "energy", "days", "payment_txid"}``.
Once the payment is in a block, the market delegates energy to the receiver from its own stake
with a real ``DelegateResource`` transaction (locked for the rental's days) and the order is
``delivered`` when that transaction is in a block. A paid order the market cannot serve (too little
stake, or a failure injected with ``POST /devnet/market``) is ``failed`` and the payment refunded
by a real transfer. The payment's txid is the order's idempotency key: ordering again with the
same payment returns the same order, so a buyer that lost the answer asks again safely.

Prices are the share of burning the rental markets typically charge (docs/decisions.md at the
repository root): ``price_sun`` per energy per day = the chain's ``getEnergyFee`` × the
duration's share, and an order costs ``ceil(price_sun × energy × days)`` sun.

The market's state lives with the chain (saved in its state file, cleared by a reset).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Any

from tron_devnet import addresses, protobuf
from tron_devnet.chain import BroadcastError
from tron_devnet.crypto import address_of_private_key, sha256, sign
from tron_devnet.economics import TRX
from tron_devnet.stake import can_delegate_max
from tron_devnet.state import BLOCK_INTERVAL_MS, ENERGY
from tron_devnet.txbase import TxFailure, reweigh

if TYPE_CHECKING:
    from tron_devnet.chain import Chain

# Days a rental lasts → share of burning it costs per energy per day.
SHARES: dict[int, Decimal] = {
    1: Decimal("0.40"),
    3: Decimal("0.35"),
    7: Decimal("0.30"),
    30: Decimal("0.25"),
}
MIN_ENERGY = 65_000
MAX_ENERGY = 100_000_000
DEFAULT_STAKE_TRX = 200_000
DAY_MS = 86_400_000
SLOTS_PER_DAY = DAY_MS // BLOCK_INTERVAL_MS


# What building or broadcasting one of the market's own transactions can raise.
MARKET_TX_ERRORS = (BroadcastError, TxFailure, protobuf.ProtoError)


class MarketError(Exception):
    """A refused market request: HTTP ``status`` with ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class MarketOrder:
    id: str
    receiver: str  # base58
    energy: int
    days: int
    payment_txid: str
    paid_sun: int
    cost_sun: int
    state: str  # delegating | delivered | failed | expired
    created_at: int  # devnet ms
    expires_at: int
    delegated_sun: int = 0
    delegate_txid: str = ""
    refund_txid: str = ""
    reclaim_txid: str = ""
    reason: str = ""


def price_sun(energy_fee: int, days: int) -> Decimal:
    return (Decimal(energy_fee) * SHARES[days]).quantize(Decimal("0.000001"))


def order_cost_sun(energy_fee: int, energy: int, days: int) -> int:
    total = price_sun(energy_fee, days) * energy * days
    return int(total.to_integral_value(rounding=ROUND_CEILING))


class Market:
    """The market of one chain. Not thread-safe: called from the server's event loop."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.private_key = sha256(chain.seed + b"energy-market").hex()
        self.address = address_of_private_key(self.private_key)
        self.orders: dict[str, MarketOrder] = {}
        self.by_payment: dict[str, str] = {}
        self.provisioned = False
        self.fail_orders = 0  # next N paid orders fail (-1: all until cleared)
        self.unavailable = 0  # next N order requests answer 503 (-1: all until cleared)

    # ------------------------------------------------------------------ stake

    def _provision(self) -> None:
        """First use: the market's account, staked for energy with DEFAULT_STAKE_TRX."""
        if self.provisioned:
            return
        self.provisioned = True
        self.chain.get_or_create(self.address)
        self.set_stake(DEFAULT_STAKE_TRX)

    def set_stake(self, trx: int) -> None:
        """Set the market's own (undelegated) energy stake to ``trx`` TRX, without a transaction
        (like ``/devnet/fund``): how tests make supply short or plentiful."""
        if trx < 0:
            raise MarketError(400, "stake_trx must be >= 0")
        self.provisioned = True
        acct = self.chain.get_or_create(self.address)
        target = trx * TRX

        def change() -> None:
            acct.frozen_energy = target

        reweigh(self.chain, acct, ENERGY, change)
        acct.balance = max(acct.balance, 1_000 * TRX)  # bandwidth fees and refunds
        self.chain.dirty = True

    def available_energy(self) -> int:
        chain = self.chain
        acct = chain.accounts.get(self.address)
        if acct is None:
            return 0
        stake = can_delegate_max(chain, acct, ENERGY)
        return stake * chain.params["getTotalEnergyCurrentLimit"] // (chain.energy_weight() * TRX)

    def _stake_for(self, energy: int) -> int:
        """Whole TRX of stake that yields at least ``energy`` at the network's ratio now."""
        chain = self.chain
        trx = math.ceil(energy * chain.energy_weight() / chain.params["getTotalEnergyCurrentLimit"])
        return max(1, trx) * TRX

    # ------------------------------------------------------------------ transactions

    def _send(self, type_name: str, value: dict[str, Any]) -> str:
        """Build, sign and broadcast one of the market's transactions; its txid."""
        chain = self.chain
        value = {"owner_address": self.address.hex(), **value}
        tx = chain.build_transaction(type_name, value)
        signature = sign(bytes.fromhex(tx["txID"]), self.private_key)
        txid, _ = chain.broadcast(tx["raw_data"], [signature.hex()], tx["raw_data_hex"])
        return txid

    def _refund(self, order: MarketOrder, reason: str) -> None:
        order.state = "failed"
        order.reason = reason
        try:
            order.refund_txid = self._send(
                "TransferContract",
                {"to_address": self._payer(order).hex(), "amount": order.paid_sun},
            )
        except MARKET_TX_ERRORS as exc:  # recorded on the order, shown to the buyer
            order.reason = f"{reason}; refund failed: {exc}"

    def _payer(self, order: MarketOrder) -> bytes:
        value = self.chain.txs[order.payment_txid].raw_data["contract"][0]["parameter"]["value"]
        return bytes.fromhex(value["owner_address"])

    # ------------------------------------------------------------------ API

    def info(self) -> dict[str, Any]:
        self._provision()
        fee = self.chain.params["getEnergyFee"]
        return {
            "address": addresses.to_base58(self.address),
            "energy_fee": fee,
            "min_energy": MIN_ENERGY,
            "available_energy": self.available_energy(),
            "prices": [
                {"days": days, "price_sun": str(price_sun(fee, days))} for days in sorted(SHARES)
            ],
            "cost": "ceil(price_sun * energy * days) sun, paid by a TRX transfer to address",
            "fail_orders": self.fail_orders,
            "unavailable": self.unavailable,
        }

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /devnet/market``: ``stake_trx``, ``fail_orders`` / ``unavailable`` (N or true),
        ``clear``."""
        self._provision()
        if body.get("clear"):
            self.fail_orders = self.unavailable = 0
        if "stake_trx" in body:
            self.set_stake(int(body["stake_trx"]))
        if "fail_orders" in body:
            self.fail_orders = _count(body["fail_orders"])
        if "unavailable" in body:
            self.unavailable = _count(body["unavailable"])
        return self.info()

    def order(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """``POST /market/order``: (HTTP status, order) or raises MarketError."""
        self._provision()
        if _take(self, "unavailable"):
            raise MarketError(503, "the market is temporarily unavailable")
        receiver, energy, days, payment_txid = _order_fields(body)
        existing = self.by_payment.get(payment_txid)
        if existing is not None:
            order = self.orders[existing]
            if (order.receiver, order.energy, order.days) != (receiver, energy, days):
                raise MarketError(409, "this payment already paid for another order")
            return 200, self.view(order)
        paid_sun = self._payment(payment_txid)
        now = self.chain.exec_ts
        fee = self.chain.params["getEnergyFee"]
        order = MarketOrder(
            id=sha256(self.chain.seed + bytes.fromhex(payment_txid)).hex()[:24],
            receiver=receiver,
            energy=energy,
            days=days,
            payment_txid=payment_txid,
            paid_sun=paid_sun,
            cost_sun=order_cost_sun(fee, energy, days),
            state="delegating",
            created_at=now,
            expires_at=now + days * DAY_MS,
        )
        self.orders[order.id] = order
        self.by_payment[payment_txid] = order.id
        self.chain.dirty = True
        if paid_sun < order.cost_sun:
            self._refund(order, f"underpaid: {paid_sun} sun paid, {order.cost_sun} due")
        elif _take(self, "fail_orders"):
            self._refund(order, "the market failed to fill the order")
        elif self.available_energy() < energy:
            self._refund(order, "insufficient supply")
        else:
            stake = self._stake_for(energy)
            try:
                order.delegate_txid = self._send(
                    "DelegateResourceContract",
                    {
                        "resource": "ENERGY",
                        "balance": stake,
                        "receiver_address": addresses.parse(receiver).hex(),
                        "lock": True,
                        "lock_period": days * SLOTS_PER_DAY,
                    },
                )
                order.delegated_sun = stake
            except MARKET_TX_ERRORS as exc:  # a refusal of the chain fails the order
                self._refund(order, f"delegation refused: {exc}")
        return 201, self.view(order)

    def get(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise MarketError(404, "no such order")
        return self.view(order)

    def view(self, order: MarketOrder) -> dict[str, Any]:
        self._advance(order)
        return asdict(order)

    def _advance(self, order: MarketOrder) -> None:
        """delegating → delivered once the delegation is in a block; delivered → expired after
        its days, when the market takes its energy back (undelegates)."""
        chain = self.chain
        if order.state == "delegating":
            record = chain.txs.get(order.delegate_txid)
            if record is not None and record.block_number >= 0:
                order.state = "delivered"
                chain.dirty = True
        if order.state == "delivered" and chain.head_ts > order.expires_at:
            order.state = "expired"
            try:
                order.reclaim_txid = self._send(
                    "UnDelegateResourceContract",
                    {
                        "resource": "ENERGY",
                        "balance": order.delegated_sun,
                        "receiver_address": addresses.parse(order.receiver).hex(),
                    },
                )
            except MARKET_TX_ERRORS as exc:  # the rental has ended either way
                order.reason = f"reclaim refused: {exc}"
            chain.dirty = True

    def _payment(self, txid: str) -> int:
        """Sun paid to the market by transaction ``txid``, in a block; else MarketError 402."""
        record = self.chain.txs.get(txid)
        if record is None or record.block_number < 0:
            raise MarketError(402, "payment not found in a block")
        contract = record.raw_data["contract"][0]
        value = contract["parameter"]["value"]
        if (
            contract["type"] != "TransferContract"
            or bytes.fromhex(value.get("to_address", "")) != self.address
            or record.contract_ret != "SUCCESS"
        ):
            raise MarketError(402, "the transaction is not a payment to the market")
        return int(value.get("amount", 0))

    # ------------------------------------------------------------------ persistence

    def to_json(self) -> dict[str, Any]:
        return {
            "provisioned": self.provisioned,
            "orders": [asdict(o) for o in self.orders.values()],
            "fail_orders": self.fail_orders,
            "unavailable": self.unavailable,
        }

    def load(self, data: dict[str, Any]) -> None:
        self.provisioned = bool(data.get("provisioned"))
        self.orders = {o["id"]: MarketOrder(**o) for o in data.get("orders", [])}
        self.by_payment = {o.payment_txid: o.id for o in self.orders.values()}
        self.fail_orders = int(data.get("fail_orders", 0))
        self.unavailable = int(data.get("unavailable", 0))


def _count(value: Any) -> int:
    if value is True:
        return -1
    if value is False or value is None:
        return 0
    return max(-1, int(value))


def _take(market: Market, name: str) -> bool:
    left = getattr(market, name)
    if left == 0:
        return False
    if left > 0:
        setattr(market, name, left - 1)
    return True


def _order_fields(body: dict[str, Any]) -> tuple[str, int, int, str]:
    errors: dict[str, str] = {}
    receiver = body.get("receiver")
    try:
        receiver_b58 = addresses.to_base58(addresses.parse(receiver))
    except (addresses.AddressError, TypeError):
        errors["receiver"] = "a TRON address"
        receiver_b58 = ""
    energy = body.get("energy")
    if (
        not isinstance(energy, int)
        or isinstance(energy, bool)
        or not (MIN_ENERGY <= energy <= MAX_ENERGY)
    ):
        errors["energy"] = f"an integer from {MIN_ENERGY} to {MAX_ENERGY}"
    days = body.get("days")
    if days not in SHARES or isinstance(days, bool):
        errors["days"] = f"one of {sorted(SHARES)}"
    txid = body.get("payment_txid")
    if not isinstance(txid, str) or len(txid) != 64 or not _is_hex(txid):
        errors["payment_txid"] = "the 64-hex txid of the payment"
    if errors:
        raise MarketError(400, "; ".join(f"{k}: {v}" for k, v in errors.items()))
    assert isinstance(energy, int)
    assert isinstance(days, int)
    assert isinstance(txid, str)
    return receiver_b58, energy, days, txid.lower()


def _is_hex(value: str) -> bool:
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True
