"""Chain sync against the devnet: numbers, snapshots, external usage, failover, staleness."""

import pytest
from django.utils import timezone
from tronpy.keys import PrivateKey

from pools.chain import chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD, USDT_TRANSFER_ENERGY_WARM, fee_limit_for
from pools.chain.types import BlockRef
from pools.models import EnergyPool, EnergyUsageLog, PoolSnapshot, Reservation
from pools.services.sync import (
    UsageBaseline,
    chain_time,
    expected_usage,
    pools_sync,
)
from pools.tests.factories import EnergyPoolFactory, ReservationFactory
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


def test_expected_usage_replays_recovery_and_window_merging():
    day = 24 * 3600 * 1000
    baseline = UsageBaseline(used=100_000, at_ms=6 * 3600_000, consumed_at_ms=0, window_ms=day)
    # No new use: 100,000 at 6 h into a 24 h window is 75 % left; at 18 h, 25 % of the
    # original remains, i.e. a third of what the baseline saw.
    assert expected_usage(baseline, [], 18 * 3600_000) == pytest.approx(100_000 / 3)
    # A use of 60,000 at 12 h: 66,667 left + 60,000, windows merged by weight.
    left = 100_000 * 12 / 18
    merged_window = (left * 12 * 3600_000 + 60_000 * day) / (left + 60_000)
    later = 15 * 3600_000
    expected = (left + 60_000) * (merged_window - 3 * 3600_000) / merged_window
    assert expected_usage(baseline, [(60_000, 12 * 3600_000)], later) == pytest.approx(expected)


def _pool_with_baseline(devnet, staked):
    pool = EnergyPoolFactory(address=staked.address)
    pools_sync()
    return pool


def test_external_usage_found_after_a_mid_recovery_sync(devnet, staked):
    pool = _pool_with_baseline(devnet, staked)
    usdt_transfer(devnet, staked)  # outside the platform
    devnet.advance(6 * 3600)
    pools_sync()  # baseline now sits mid-recovery; that first use was external too
    EnergyUsageLog.objects.all().delete()
    devnet.advance(3 * 3600)
    usdt_transfer(devnet, staked)
    assert pools_sync().external_logs == 1
    log = EnergyUsageLog.objects.get(pool=pool)
    assert log.energy_used == pytest.approx(USDT_TRANSFER_ENERGY_COLD, rel=0.005)


def test_several_own_uses_with_merged_windows_are_not_external(devnet, staked):
    pool = _pool_with_baseline(devnet, staked)
    for hours in (0, 5, 9):
        devnet.advance(hours * 3600)
        receipt = usdt_transfer(devnet, staked)
        EnergyUsageLog.objects.create(
            pool=pool,
            kind=EnergyUsageLog.Kind.WITHDRAWAL,
            txid=receipt.txid,
            energy_used=receipt.energy_from_stake,
            at=chain_time(BlockRef(receipt.block_number, "", receipt.block_timestamp_ms)),
        )
    devnet.advance(2 * 3600)
    assert pools_sync().external_logs == 0


def test_check_waits_while_our_transaction_is_in_flight(devnet, staked):
    pool = _pool_with_baseline(devnet, staked)
    reservation = ReservationFactory(pool=pool, expires_at=None)  # signed, not yet settled
    receipt = usdt_transfer(devnet, staked)
    assert pools_sync().external_logs == 0  # could be ours: wait
    pool.refresh_from_db()
    assert pool.energy_used > 0  # the numbers still follow the chain
    # Settled as ours: logged with its block time, the reservation posted.
    EnergyUsageLog.objects.create(
        pool=pool,
        kind=EnergyUsageLog.Kind.WITHDRAWAL,
        txid=receipt.txid,
        energy_used=receipt.energy_from_stake,
        at=chain_time(BlockRef(receipt.block_number, "", receipt.block_timestamp_ms)),
    )
    Reservation.objects.filter(pk=reservation.pk).update(
        state="posted", posted_energy=receipt.energy_from_stake, resolved_at=timezone.now()
    )
    assert pools_sync().external_logs == 0


def test_overlapping_syncs_write_once(devnet, staked):
    """Two syncs that loaded the same pool: the second to write skips it."""
    from pools.services import sync as sync_module

    pool = _pool_with_baseline(devnet, staked)
    usdt_transfer(devnet, staked)
    loaded = [EnergyPool.objects.get(pk=pool.pk), EnergyPool.objects.get(pk=pool.pk)]
    reports = []
    for copy in loaded:
        reader_states = {pool.address: chain_client().account_state(pool.address)}
        report = sync_module.SyncReport(pools=1)
        sync_module._write_batch([copy], reader_states, chain_client().head_block(), report)
        reports.append(report)
    assert [r.synced for r in reports] == [1, 0]
    assert EnergyUsageLog.objects.filter(pool=pool, kind="external").count() == 1


def test_node_urls_never_reach_partners(devnet, staked, settings):
    settings.TRON_NODE_URLS = ["http://user:secret@127.0.0.1:9/token-abc123"]
    pool = EnergyPoolFactory(address=staked.address)
    report = pools_sync()
    pool.refresh_from_db()
    assert pool.last_sync_error == "TRON node unavailable"
    assert "token-abc123" not in str(report.errors)
