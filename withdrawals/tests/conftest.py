"""Fixtures of the withdrawals app's tests."""

from decimal import Decimal

import pytest
from django.test import Client

from partners.tests.factories import CustomerFactory


@pytest.fixture
def shop(devnet, partner):
    """A customer with 100 USDT and a custodial pool with room for one cold transfer."""
    from tronpy.keys import PrivateKey

    from pools.chain.client import USDT_TRANSFER_ENERGY_COLD
    from pools.models import EnergyPool
    from pools.services.keys import signing_key_import
    from pools.tests.factories import EnergyPoolFactory
    from withdrawals.services.balances import balance_credit

    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 10)
    devnet.mint(address, 1000)
    signing_key_import(private_key_hex=key.hex())
    pool = EnergyPoolFactory(
        partner=partner,
        address=address,
        custody=EnergyPool.Custody.CUSTODIAL,
        energy_limit=USDT_TRANSFER_ENERGY_COLD + 1,
    )
    customer = CustomerFactory(partner=partner, user__username="alice")
    balance_credit(
        customer=customer, currency="USDT", amount=Decimal("100"), idempotency_key="seed"
    )
    client = Client()
    client.force_login(customer.user)
    return client, customer, pool
