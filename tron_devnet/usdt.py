"""The devnet's built-in USDT TRC20 at the mainnet address (no TVM: a Python state machine).

Energy costs are the mainnet figures from docs/tron.md (a USDT transfer): ``transfer`` costs
64,285 energy when the recipient's balance slot is non-zero ("holder") and 130,285 when it
is zero (a new storage slot). A failing ``transfer`` (sender balance too low) REVERTs after
``REVERT_ENERGY`` (a devnet constant: the real contract's cost up to its SafeMath check, with
the dynamic energy factor).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tron_devnet import addresses
from tron_devnet.crypto import keccak256

ADDRESS_B58 = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
ADDRESS = addresses.parse(ADDRESS_B58)
ORIGIN = addresses.parse("TKHuVq1oKVruCGLvqVexFs6dawKv6fQgFs")  # mainnet USDT deployer
NAME = "Tether USD"
SYMBOL = "USDT"
DECIMALS = 6
CONTRACT_NAME = "TetherToken"

TRANSFER_HOLDER_ENERGY = 64_285
TRANSFER_NEW_HOLDER_ENERGY = 130_285
REVERT_ENERGY = 3_059
VIEW_ENERGY = 1_341  # balanceOf / allowance constant calls (935 base * dynamic factor ~1.43)
CONST_ENERGY = 1_015  # name / symbol / decimals / totalSupply
APPROVE_ENERGY = 103_175
ENERGY_FACTOR = 34_000  # contract_state.energy_factor (x1e4): mainnet USDT sits at max_factor 3.4

TRANSFER_TOPIC = keccak256(b"Transfer(address,address,uint256)")
APPROVAL_TOPIC = keccak256(b"Approval(address,address,uint256)")


def _selector(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


SEL_TRANSFER = _selector("transfer(address,uint256)")
SEL_TRANSFER_FROM = _selector("transferFrom(address,address,uint256)")
SEL_APPROVE = _selector("approve(address,uint256)")
SEL_BALANCE_OF = _selector("balanceOf(address)")
SEL_ALLOWANCE = _selector("allowance(address,address)")
SEL_DECIMALS = _selector("decimals()")
SEL_NAME = _selector("name()")
SEL_SYMBOL = _selector("symbol()")
SEL_TOTAL_SUPPLY = _selector("totalSupply()")


def _fn(
    name: str,
    inputs: list[tuple[str, str]],
    outputs: list[str],
    view: bool,
) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if view:
        entry["constant"] = True
    if inputs:
        entry["inputs"] = [{"name": n, "type": t} for n, t in inputs]
    entry["name"] = name
    if outputs:
        entry["outputs"] = [{"type": t} for t in outputs]
    entry["type"] = "Function"
    entry["stateMutability"] = "View" if view else "Nonpayable"
    return entry


def _event(name: str, inputs: list[tuple[str, str, bool]]) -> dict[str, Any]:
    args: list[dict[str, Any]] = []
    for n, t, indexed in inputs:
        arg: dict[str, Any] = {"indexed": True} if indexed else {}
        arg.update({"name": n, "type": t})
        args.append(arg)
    return {"inputs": args, "name": name, "type": "Event"}


# java-tron's ABI JSON shape (capitalised enum names, defaults omitted).
ABI: list[dict[str, Any]] = [
    _fn("name", [], ["string"], True),
    _fn("symbol", [], ["string"], True),
    _fn("decimals", [], ["uint8"], True),
    _fn("totalSupply", [], ["uint256"], True),
    _fn("balanceOf", [("who", "address")], ["uint256"], True),
    _fn("allowance", [("_owner", "address"), ("_spender", "address")], ["uint256"], True),
    _fn("transfer", [("_to", "address"), ("_value", "uint256")], ["bool"], False),
    _fn(
        "transferFrom",
        [("_from", "address"), ("_to", "address"), ("_value", "uint256")],
        ["bool"],
        False,
    ),
    _fn("approve", [("_spender", "address"), ("_value", "uint256")], ["bool"], False),
    _event(
        "Transfer",
        [("from", "address", True), ("to", "address", True), ("value", "uint256", False)],
    ),
    _event(
        "Approval",
        [("owner", "address", True), ("spender", "address", True), ("value", "uint256", False)],
    ),
]

# The bytecode is not executed; a short stub keeps getcontract's shape (tronpy reads it as hex).
BYTECODE = "608060405260043610610057576000357c0100000000000000000000000000000000000000000000"


@dataclass(slots=True)
class Log:
    topics: list[bytes]
    data: bytes


@dataclass(slots=True)
class CallResult:
    """Outcome of one call: ``status`` is "SUCCESS" or "REVERT"."""

    status: str
    energy: int
    output: bytes = b""
    logs: list[Log] = field(default_factory=list)


@dataclass(slots=True)
class Usdt:
    """Token state: balances keyed by 21-byte address, allowances by (owner, spender)."""

    balances: dict[bytes, int] = field(default_factory=dict)
    allowances: dict[tuple[bytes, bytes], int] = field(default_factory=dict)
    total_supply: int = 0

    def balance_of(self, addr: bytes) -> int:
        return self.balances.get(addr, 0)

    def mint(self, addr: bytes, amount: int) -> None:
        self.balances[addr] = self.balance_of(addr) + amount
        self.total_supply += amount

    def to_json(self) -> dict[str, Any]:
        return {
            "balances": {k.hex(): v for k, v in self.balances.items()},
            "allowances": [[o.hex(), s.hex(), v] for (o, s), v in self.allowances.items()],
            "total_supply": self.total_supply,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Usdt:
        return cls(
            balances={bytes.fromhex(k): int(v) for k, v in data.get("balances", {}).items()},
            allowances={
                (bytes.fromhex(o), bytes.fromhex(s)): int(v)
                for o, s, v in data.get("allowances", [])
            },
            total_supply=int(data.get("total_supply", 0)),
        )

    def call(self, caller: bytes, data: bytes, apply: bool) -> CallResult:
        """Run ``data`` (selector + ABI args) from ``caller``; mutate state only if ``apply``."""
        sel, args = data[:4], data[4:]
        words = [args[i : i + 32] for i in range(0, len(args), 32)]

        def addr(i: int) -> bytes | None:
            if i >= len(words) or len(words[i]) != 32 or any(words[i][:12]):
                return None
            return bytes([addresses.PREFIX]) + words[i][12:]

        def uint(i: int) -> int | None:
            if i >= len(words) or len(words[i]) != 32:
                return None
            return int.from_bytes(words[i], "big")

        if sel == SEL_BALANCE_OF:
            who = addr(0)
            if who is None:
                return CallResult("REVERT", REVERT_ENERGY)
            return CallResult("SUCCESS", VIEW_ENERGY, _u256(self.balance_of(who)))
        if sel == SEL_ALLOWANCE:
            owner, spender = addr(0), addr(1)
            if owner is None or spender is None:
                return CallResult("REVERT", REVERT_ENERGY)
            return CallResult(
                "SUCCESS", VIEW_ENERGY, _u256(self.allowances.get((owner, spender), 0))
            )
        if sel == SEL_DECIMALS:
            return CallResult("SUCCESS", CONST_ENERGY, _u256(DECIMALS))
        if sel == SEL_TOTAL_SUPPLY:
            return CallResult("SUCCESS", CONST_ENERGY, _u256(self.total_supply))
        if sel == SEL_NAME:
            return CallResult("SUCCESS", CONST_ENERGY, _abi_string(NAME))
        if sel == SEL_SYMBOL:
            return CallResult("SUCCESS", CONST_ENERGY, _abi_string(SYMBOL))
        if sel == SEL_TRANSFER:
            to, value = addr(0), uint(1)
            if to is None or value is None:
                return CallResult("REVERT", REVERT_ENERGY)
            return self._move(caller, caller, to, value, apply, spend_allowance=False)
        if sel == SEL_TRANSFER_FROM:
            src, to, value = addr(0), addr(1), uint(2)
            if src is None or to is None or value is None:
                return CallResult("REVERT", REVERT_ENERGY)
            return self._move(caller, src, to, value, apply, spend_allowance=True)
        if sel == SEL_APPROVE:
            spender, value = addr(0), uint(1)
            if spender is None or value is None:
                return CallResult("REVERT", REVERT_ENERGY)
            if apply:
                self.allowances[(caller, spender)] = value
            log = Log([APPROVAL_TOPIC, _word(caller), _word(spender)], _u256(value))
            return CallResult("SUCCESS", APPROVE_ENERGY, _u256(1), [log])
        return CallResult("REVERT", REVERT_ENERGY)

    def _move(
        self,
        caller: bytes,
        src: bytes,
        to: bytes,
        value: int,
        apply: bool,
        spend_allowance: bool,
    ) -> CallResult:
        if self.balance_of(src) < value or to == bytes(21):
            return CallResult("REVERT", REVERT_ENERGY)
        if spend_allowance and self.allowances.get((src, caller), 0) < value:
            return CallResult("REVERT", REVERT_ENERGY)
        holder = self.balance_of(to) > 0 or to == src
        energy = TRANSFER_HOLDER_ENERGY if holder else TRANSFER_NEW_HOLDER_ENERGY
        if apply:
            self.balances[src] = self.balance_of(src) - value
            self.balances[to] = self.balance_of(to) + value
            if spend_allowance:
                self.allowances[(src, caller)] -= value
        log = Log([TRANSFER_TOPIC, _word(src), _word(to)], _u256(value))
        return CallResult("SUCCESS", energy, _u256(1), [log])


def _u256(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _word(addr: bytes) -> bytes:
    return bytes(12) + addr[1:]


def _abi_string(text: str) -> bytes:
    raw = text.encode()
    padded = raw + bytes(-len(raw) % 32)
    return _u256(32) + _u256(len(raw)) + padded


def encode_selector_call(function_selector: str, parameter_hex: str) -> bytes:
    """``triggersmartcontract`` style: keccak4(selector) + parameter bytes."""
    return _selector(function_selector) + bytes.fromhex(parameter_hex or "")
