"""Fixtures for the alerts tests: a real pool on the devnet whose usage ratio is steered by
the chain (a spent transfer, the network's stake weight, time), and Celery run eagerly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tronpy.keys import PrivateKey

from pools.chain import chain_client
from pools.models import EnergyPool
from pools.services.sync import pools_sync
from pools.tests.factories import EnergyPoolFactory
from pools.tests.test_chain_client import KeySigner, send

TRX = 1_000_000
STAKE_TRX = 20_000
TOTAL_ENERGY_LIMIT = 180_000_000_000  # tron_devnet/economics.py getTotalEnergyCurrentLimit


@dataclass
class SpentPool:
    """A watch-only pool that staked `STAKE_TRX` and spent one USDT transfer's energy."""

    pool: EnergyPool
    signer: KeySigner
    devnet: Any

    def sync(self) -> EnergyPool:
        pools_sync(queryset=EnergyPool.objects.filter(pk=self.pool.pk))
        self.pool.refresh_from_db()
        return self.pool

    def steer_to(self, percent: float) -> EnergyPool:
        """Move the network's stake weight so this pool's limit makes its spent energy
        `percent` of it (others staking shrinks everyone's energy), then sync."""
        used = chain_client().account_state(self.signer.address).energy_used
        limit = used * 100 / percent
        weight = int(STAKE_TRX * TOTAL_ENERGY_LIMIT / limit) - STAKE_TRX
        self.devnet.params(totalEnergyWeight=weight)
        return self.sync()


@pytest.fixture
def spent_pool(devnet: Any, partner: Any) -> SpentPool:
    key = PrivateKey.random()
    signer = KeySigner(key)
    devnet.fund(signer.address, STAKE_TRX + 200)
    devnet.mint(signer.address, 1_000)
    pool = EnergyPoolFactory(partner=partner, address=signer.address, energy_limit=0)
    client = chain_client()
    send(
        client, devnet, client.build_stake(owner=signer.address, amount_sun=STAKE_TRX * TRX), signer
    )
    recipient = PrivateKey.random().public_key.to_base58check_address()
    transfer = client.build_usdt_transfer(
        owner=signer.address, to=recipient, amount=1_000_000, fee_limit=100 * TRX
    )
    spent = SpentPool(pool=pool, signer=signer, devnet=devnet)
    spent.sync()
    send(client, devnet, transfer, signer)
    spent.sync()
    assert pool.energy_used > 100_000
    return spent


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks enqueued run at once in the enqueuing thread, as a worker would run them."""
    from energy_platform.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before
