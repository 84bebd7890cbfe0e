"""Fixtures: one in-process devnet per test session (per xdist worker), reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tronpy import Tron
from tronpy.keys import PrivateKey
from tronpy.providers import HTTPProvider

from tron_devnet.testing import RunningDevnet, devnet_server


@pytest.fixture(scope="session")
def devnet_session() -> Iterator[RunningDevnet]:
    with devnet_server() as devnet:
        yield devnet


@pytest.fixture
def devnet(devnet_session: RunningDevnet) -> RunningDevnet:
    devnet_session.clear_faults()
    devnet_session.reset()
    return devnet_session


@pytest.fixture
def client(devnet: RunningDevnet) -> Iterator[Tron]:
    tron = Tron(HTTPProvider(devnet.url + "/"))
    yield tron
    tron.provider.sess.close()


@pytest.fixture
def genesis_key(devnet: RunningDevnet) -> PrivateKey:
    return PrivateKey(bytes.fromhex(devnet.genesis_private_key))
