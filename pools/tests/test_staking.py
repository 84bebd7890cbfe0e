"""Stake 2.0 operations on custodial pools, against the devnet."""

import pytest
from django.core.exceptions import ValidationError
from tronpy.keys import PrivateKey

from common.idempotency import IdempotencyMismatch
from pools.chain import chain_client
from pools.models import EnergyPool, EnergyUsageLog, StakingOperation
from pools.services.keys import signing_key_import
from pools.services.staking import staking_operations_drive, staking_quote, staking_submit
from pools.tests.factories import EnergyPoolFactory

pytestmark = pytest.mark.django_db

TRX = 1_000_000
DAY = 24 * 3600


@pytest.fixture
def pool(devnet, partner):
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 100_000)
    signing_key_import(private_key_hex=key.hex())
    return EnergyPoolFactory(
        partner=partner, address=address, custody=EnergyPool.Custody.CUSTODIAL, energy_limit=0
    )


def confirm(devnet) -> int:
    devnet.mine()
    return staking_operations_drive()


def ops_url(pool):
    return f"/api/v1/pools/{pool.pk}/operations"


def test_stake_changes_synced_numbers_by_what_the_chain_reports(devnet, pool):
    quote = staking_quote(pool=pool, amount_sun=50_000 * TRX)
    assert quote.energy_limit_now == 0
    op = staking_submit(pool=pool, kind="stake", amount_sun=50_000 * TRX)
    assert op.state == StakingOperation.State.BROADCAST
    assert op.energy_quote == quote.energy_gain
    pool.refresh_from_db()
    assert pool.energy_limit == 0  # nothing changes before the chain says so
    assert confirm(devnet) == 1
    op.refresh_from_db()
    pool.refresh_from_db()
    chain = chain_client().account_state(pool.address)
    assert op.state == StakingOperation.State.CONFIRMED
    assert op.block_number is not None
    assert pool.staked_trx_sun == 50_000 * TRX == chain.staked_energy_sun
    assert pool.energy_limit == chain.energy_limit == quote.energy_limit_after
    assert pool.trx_balance_sun == chain.balance_sun
    assert EnergyUsageLog.objects.filter(txid=op.txid, kind="staking").exists()


def test_unstake_waits_fourteen_days_then_withdraws(devnet, pool):
    staking_submit(pool=pool, kind="stake", amount_sun=10_000 * TRX)
    confirm(devnet)
    staking_submit(pool=pool, kind="unstake", amount_sun=4_000 * TRX)
    confirm(devnet)
    state = chain_client().account_state(pool.address)
    assert state.staked_energy_sun == 6_000 * TRX
    assert [u.amount_sun for u in state.unstaking] == [4_000 * TRX]
    early = staking_submit(pool=pool, kind="withdraw")
    assert early.state == StakingOperation.State.FAILED
    assert "no unFreeze balance to withdraw" in early.result
    balance_before = state.balance_sun
    devnet.advance(14 * DAY + 60)
    late = staking_submit(pool=pool, kind="withdraw")
    assert late.state == StakingOperation.State.BROADCAST
    confirm(devnet)
    pool.refresh_from_db()
    assert pool.trx_balance_sun == balance_before + 4_000 * TRX - (late.receipt or {}).get("fee", 0)


def test_delegate_moves_energy_and_honours_its_lock(devnet, pool):
    receiver = PrivateKey.random().public_key.to_base58check_address()
    devnet.fund(receiver, 1)
    staking_submit(pool=pool, kind="stake", amount_sun=20_000 * TRX)
    confirm(devnet)
    limit_before = chain_client().account_state(pool.address).energy_limit
    op = staking_submit(
        pool=pool,
        kind="delegate",
        amount_sun=10_000 * TRX,
        receiver=receiver,
        lock_period_blocks=100,
    )
    confirm(devnet)
    op.refresh_from_db()
    assert op.state == StakingOperation.State.CONFIRMED
    pool.refresh_from_db()
    assert pool.energy_limit == pytest.approx(limit_before / 2, rel=0.001)
    assert chain_client().account_state(receiver).energy_limit == pytest.approx(
        limit_before / 2, rel=0.001
    )
    locked = staking_submit(
        pool=pool, kind="undelegate", amount_sun=10_000 * TRX, receiver=receiver
    )
    assert locked.state == StakingOperation.State.FAILED
    devnet.mine(101)
    freed = staking_submit(pool=pool, kind="undelegate", amount_sun=10_000 * TRX, receiver=receiver)
    confirm(devnet)
    freed.refresh_from_db()
    assert freed.state == StakingOperation.State.CONFIRMED
    pool.refresh_from_db()
    assert pool.energy_limit == limit_before


def test_unclear_broadcast_is_retried_with_the_same_bytes(devnet, pool):
    devnet.faults(server_busy=2)  # both tries of the first broadcast: SERVER_BUSY
    op = staking_submit(pool=pool, kind="stake", amount_sun=1_000 * TRX)
    assert op.state == StakingOperation.State.SIGNED  # recorded, outcome unknown
    assert staking_operations_drive() == 0  # rebroadcast: accepted now
    op.refresh_from_db()
    assert (op.state, op.broadcast_count) == (StakingOperation.State.BROADCAST, 1)
    assert confirm(devnet) == 1
    op.refresh_from_db()
    assert op.state == StakingOperation.State.CONFIRMED
    assert StakingOperation.objects.count() == 1


def test_operation_that_never_lands_dies_after_expiration(devnet, pool):
    devnet.faults(drop_broadcasts=10)
    op = staking_submit(pool=pool, kind="stake", amount_sun=1_000 * TRX)
    devnet.advance(120)  # past its expiration, but not past the margin
    staking_operations_drive()
    op.refresh_from_db()
    assert (op.state, op.dead_checks) == ("broadcast", 0)  # rebroadcast, still live
    devnet.advance(300)  # past expiration and margin on the solidified chain
    staking_operations_drive()
    op.refresh_from_db()
    assert (op.state, op.dead_checks) == ("broadcast", 1)  # one check is not proof
    staking_operations_drive()
    op.refresh_from_db()
    assert op.state == StakingOperation.State.DEAD
    devnet.clear_faults()
    assert chain_client().account_state(pool.address).staked_energy_sun == 0


def test_bad_operations_are_refused(devnet, pool, partner):
    cases = [
        ({"kind": "stake", "amount_sun": 10}, "amount"),
        ({"kind": "stake"}, "amount"),
        ({"kind": "withdraw", "amount_sun": TRX}, "amount"),
        ({"kind": "delegate", "amount_sun": TRX}, "receiver"),
        ({"kind": "delegate", "amount_sun": TRX, "receiver": "Tbad"}, "receiver"),
        ({"kind": "delegate", "amount_sun": TRX, "receiver": pool.address}, "receiver"),
        ({"kind": "stake", "amount_sun": TRX, "receiver": pool.address}, "receiver"),
    ]

    for kwargs, field in cases:
        with pytest.raises(ValidationError) as info:
            staking_submit(pool=pool, **kwargs)
        assert field in info.value.message_dict
    watch_only = EnergyPoolFactory(partner=partner)
    with pytest.raises(ValidationError):
        staking_submit(pool=watch_only, kind="stake", amount_sun=TRX)
    assert not StakingOperation.objects.exists()


def test_api_submit_is_idempotent(devnet, pool, key_client):
    body = {"kind": "stake", "amount_trx": "100"}
    first = key_client.post(ops_url(pool), body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 201, first.content
    again = key_client.post(ops_url(pool), body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert again.json()["id"] == first.json()["id"]
    other = key_client.post(
        ops_url(pool),
        {"kind": "stake", "amount_trx": "5"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert StakingOperation.objects.count() == 1
    # Without a key a retry would move TRX twice: refused, nothing sent.
    keyless = key_client.post(ops_url(pool), body, format="json")
    assert keyless.status_code == 400
    assert "idempotency_key" in keyless.json()["error"]["fields"]
    assert StakingOperation.objects.count() == 1
    listed = key_client.get(ops_url(pool)).json()
    assert [o["id"] for o in listed["results"]] == [first.json()["id"]]


def test_api_quote_and_personas(devnet, pool, viewer_client, outsider_client, key_client):
    url = f"/api/v1/pools/{pool.pk}/stake-quote"
    quote = viewer_client.post(url, {"amount_trx": "1000"}, format="json")
    assert quote.status_code == 200, quote.content
    assert quote.json()["energy_gain"] > 0
    assert (
        viewer_client.post(
            ops_url(pool), {"kind": "stake", "amount_trx": "1"}, format="json"
        ).status_code
        == 403
    )
    assert (
        outsider_client.post(
            ops_url(pool), {"kind": "stake", "amount_trx": "1"}, format="json"
        ).status_code
        == 404
    )
    assert outsider_client.post(url, {"amount_trx": "1"}, format="json").status_code == 404
    bad = key_client.post(
        ops_url(pool), {"kind": "stake", "amount_trx": "0.0000001"}, format="json"
    )
    assert bad.status_code == 400
    assert not StakingOperation.objects.exists()


def test_operations_list_query_count_is_constant(
    devnet, pool, key_client, django_assert_num_queries
):
    key_client.get(ops_url(pool))
    staking_submit(pool=pool, kind="stake", amount_sun=10 * TRX)
    with django_assert_num_queries(4):  # key, pool, count, page
        key_client.get(ops_url(pool))
    for _ in range(3):
        staking_submit(pool=pool, kind="stake", amount_sun=10 * TRX)
    with django_assert_num_queries(4):
        assert key_client.get(ops_url(pool)).json()["count"] == 4


def test_a_key_reused_with_another_lock_period_is_refused(devnet, pool):
    receiver = PrivateKey.random().public_key.to_base58check_address()
    devnet.fund(receiver, 1)
    staking_submit(pool=pool, kind="stake", amount_sun=20_000 * TRX)
    confirm(devnet)
    first = staking_submit(
        pool=pool,
        kind="delegate",
        amount_sun=1_000 * TRX,
        receiver=receiver,
        lock_period_blocks=100,
        idempotency_key="d1",
    )
    with pytest.raises(IdempotencyMismatch):
        staking_submit(
            pool=pool,
            kind="delegate",
            amount_sun=1_000 * TRX,
            receiver=receiver,
            lock_period_blocks=0,
            idempotency_key="d1",
        )
    assert StakingOperation.objects.filter(kind="delegate").get().pk == first.pk


def test_an_operation_never_delivered_dies_after_expiry_not_fails(devnet, pool):
    """Its first broadcast was unclear (the node busy), so it stays signed. After it expires
    a rebroadcast's refusal proves nothing (it may have landed): only the dead check ends
    it, and dead means nothing moved."""
    devnet.faults(server_busy=2)  # both tries of the first broadcast
    op = staking_submit(pool=pool, kind="stake", amount_sun=1_000 * TRX)
    assert op.state == StakingOperation.State.SIGNED
    devnet.advance(70)  # past its expiration, within the margin
    staking_operations_drive()
    op.refresh_from_db()
    assert op.state == StakingOperation.State.SIGNED
    devnet.advance(300)
    staking_operations_drive()
    staking_operations_drive()
    op.refresh_from_db()
    assert op.state == StakingOperation.State.DEAD
    assert chain_client().account_state(pool.address).staked_energy_sun == 0
