"""Chain sync against the devnet: numbers, snapshots, external usage, failover, staleness."""

from datetime import timedelta

import pytest
from django.utils import timezone
from tronpy.keys import PrivateKey

from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD, USDT_TRANSFER_ENERGY_WARM, fee_limit_for
from pools.models import EnergyPool, EnergyUsageLog, PoolSnapshot
from pools.services.sync import external_usage, pools_stale, pools_sync
from pools.tests.factories import EnergyPoolFactory
from pools.tests.test_chain_client import KeySigner, dead_url, send

pytestmark = pytest.mark.django_db

TRX = 1_000_000


@pytest.fixture
def staked(devnet):
    """An account with 100,000 TRX staked for energy and some USDT."""
    signer = KeySigner(PrivateKey.random())
    devnet.fund(signer.address, 200_000)
    devnet.mint(signer.address, 1_000)
    client = chain_client()
    send(client, devnet, client.build_stake(owner=signer.address, amount_sun=100_000 * TRX), signer)
    return signer


def usdt_transfer(devnet, signer, *, to=None, amount=1_000_000):
    client = chain_client()
    to = to or KeySigner(PrivateKey.random()).address
    unsigned = client.build_usdt_transfer(
        owner=signer.address,
        to=to,
        amount=amount,
        fee_limit=fee_limit_for(energy=USDT_TRANSFER_ENERGY_COLD, energy_fee=100),
    )
    return send(client, devnet, unsigned, signer)


def test_sync_writes_chain_numbers_and_a_snapshot(devnet, staked):
    pool = EnergyPoolFactory(
        address=staked.address,
        energy_limit=0,
        trx_balance_sun=0,
        staked_trx_sun=0,
        reserved_energy=5_000,
    )
    state = chain_client().account_state(staked.address)
    report = pools_sync()
    assert (report.pools, report.synced, report.failed, report.snapshots) == (1, 1, 0, 1)
    pool.refresh_from_db()
    assert pool.staked_trx_sun == 100_000 * TRX
    assert pool.energy_limit == state.energy_limit > 0
    assert pool.energy_used == 0
    assert pool.trx_balance_sun == state.balance_sun
    assert pool.reserved_energy == 5_000  # sync never touches the ledger's column
    assert pool.last_sync_block == chain_client().head_block().number
    assert pool.last_sync_error == ""
    snapshot = PoolSnapshot.objects.get(pool=pool)
    assert snapshot.energy_limit == pool.energy_limit
    assert snapshot.block_number == pool.last_sync_block
    assert snapshot.taken_at == pool.last_synced_at


def test_usage_on_chain_that_we_did_not_cause_is_logged_as_external(devnet, staked):
    pool = EnergyPoolFactory(address=staked.address)
    pools_sync()
    receipt = usdt_transfer(devnet, staked)  # someone with the key, outside the platform
    assert receipt.energy_from_stake == USDT_TRANSFER_ENERGY_COLD
    report = pools_sync()
    assert report.external_logs == 1
    pool.refresh_from_db()
    assert pool.energy_used == pytest.approx(USDT_TRANSFER_ENERGY_COLD, rel=0.01)
    log = EnergyUsageLog.objects.get(pool=pool)
    assert log.kind == EnergyUsageLog.Kind.EXTERNAL
    assert log.energy_used == pytest.approx(USDT_TRANSFER_ENERGY_COLD, rel=0.01)
    # A third sync with nothing new on chain logs nothing more.
    assert pools_sync().external_logs == 0


def test_our_own_logged_usage_is_not_external(devnet, staked):
    pool = EnergyPoolFactory(address=staked.address)
    pools_sync()
    holder = KeySigner(PrivateKey.random()).address
    devnet.mint(holder, 1)
    receipt = usdt_transfer(devnet, staked, to=holder)
    assert receipt.energy_from_stake == USDT_TRANSFER_ENERGY_WARM
    from pools.chain.types import BlockRef
    from pools.services.sync import chain_time

    EnergyUsageLog.objects.create(
        pool=pool,
        kind=EnergyUsageLog.Kind.WITHDRAWAL,
        txid=receipt.txid,
        energy_used=receipt.energy_from_stake,
        at=chain_time(BlockRef(receipt.block_number, "", receipt.block_timestamp_ms)),
    )
    assert pools_sync().external_logs == 0


def test_usage_recovers_and_sync_follows(devnet, staked):
    pool = EnergyPoolFactory(address=staked.address)
    usdt_transfer(devnet, staked)
    pools_sync()
    pool.refresh_from_db()
    used = pool.energy_used
    devnet.advance(12 * 3600)
    report = pools_sync()
    assert report.external_logs == 0  # recovery is not usage
    pool.refresh_from_db()
    assert pool.energy_used == pytest.approx(used / 2, rel=0.01)


def test_unknown_account_is_reported_not_fatal(devnet, staked):
    good = EnergyPoolFactory(address=staked.address)
    ghost = EnergyPoolFactory(address=KeySigner(PrivateKey.random()).address, energy_limit=42)
    report = pools_sync()
    assert (report.synced, report.failed) == (1, 1)
    ghost.refresh_from_db()
    assert ghost.last_sync_error == "account not found on chain"
    assert ghost.energy_limit == 42  # last good numbers are kept
    assert ghost.last_synced_at is None
    good.refresh_from_db()
    assert good.last_sync_error == ""


def test_dead_first_node_fails_over(devnet, staked, settings):
    settings.TRON_NODE_URLS = [dead_url(), devnet.url]
    pool = EnergyPoolFactory(address=staked.address)
    report = pools_sync()
    assert (report.synced, report.failed) == (1, 0)
    pool.refresh_from_db()
    assert pool.energy_limit > 0


def test_archived_pools_are_not_synced(devnet, staked):
    EnergyPoolFactory(address=staked.address, status=EnergyPool.Status.ARCHIVED)
    assert pools_sync().pools == 0


def test_batches_cover_every_pool(devnet, settings):
    settings.POOL_SYNC_BATCH_SIZE = 3
    addresses = [KeySigner(PrivateKey.random()).address for _ in range(7)]
    devnet.fund_many(addresses, 5)
    for address in addresses:
        EnergyPoolFactory(address=address)
    report = pools_sync()
    assert (report.pools, report.synced, report.snapshots) == (7, 7, 7)
    assert set(EnergyPool.objects.values_list("trx_balance_sun", flat=True)) == {5 * TRX}


def test_stale_pools(devnet):
    fresh = EnergyPoolFactory(last_synced_at=timezone.now())
    old = EnergyPoolFactory(last_synced_at=timezone.now() - timedelta(hours=1))
    never = EnergyPoolFactory(last_synced_at=None)
    EnergyPoolFactory(last_synced_at=None, status=EnergyPool.Status.ARCHIVED)
    assert set(pools_stale()) == {old, never}
    assert fresh not in pools_stale()


def test_external_usage_arithmetic():
    now = timezone.now()
    six_hours_ago = now - timedelta(hours=6)
    # 100,000 used six hours ago has recovered to 75,000; 64,285 more is someone's.
    assert (
        external_usage(
            previous_used=100_000,
            previous_at=six_hours_ago,
            current_used=75_000 + 64_285,
            now=now,
            own=[],
            tolerance=1000,
        )
        == 64_285
    )
    # Our own 64,285 an hour ago explains it (less its hour of recovery).
    explained = external_usage(
        previous_used=100_000,
        previous_at=six_hours_ago,
        current_used=75_000 + int(64_285 * 23 / 24),
        now=now,
        own=[(64_285, now - timedelta(hours=1))],
        tolerance=1000,
    )
    assert explained == 0
    assert (
        external_usage(
            previous_used=0, previous_at=None, current_used=5, now=now, own=[], tolerance=0
        )
        == 0
    )
