"""Energy-rental price providers: where the platform reads what renting energy would cost.

Providers are named by dotted path in `ENERGY_RENTAL_PROVIDERS`. The devnet provider quotes
from the chain itself and is the only one tests and demos use; a real market's provider
implements the same protocol and is enabled by configuration only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.utils.module_loading import import_string

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
    at the discounts rental markets typically offer over burning (reference/tron.md §4a).
    """

    name = "devnet-market"
    DISCOUNTS = (
        (1, Decimal("0.40")),
        (3, Decimal("0.35")),
        (7, Decimal("0.30")),
        (30, Decimal("0.25")),
    )
    MIN_ENERGY = 65_000

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


def rental_providers(paths: list[str]) -> list[RentalProvider]:
    return [import_string(path)() for path in paths]
