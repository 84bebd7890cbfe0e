"""The chain client against the project's devnet, over HTTP through tronpy."""

import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from tronpy.keys import PrivateKey

from pools.chain import ChainClient, ChainUnavailable, chain_client
from pools.chain.client import USDT_TRANSFER_ENERGY_COLD, USDT_TRANSFER_ENERGY_WARM, fee_limit_for
from pools.chain.signers import LocalSigner, encrypt_private_key

TRX = 1_000_000
USDT = 1_000_000


class KeySigner:
    """A plain in-memory signer for test accounts (the platform's keys use LocalSigner)."""

    def __init__(self, key: PrivateKey) -> None:
        self.key = key
        self.address = key.public_key.to_base58check_address()

    def sign_digest(self, digest: bytes) -> bytes:
        signature: bytes = self.key.sign_msg_hash(digest).to_bytes()
        return signature


def new_account(devnet, trx=None):
    signer = KeySigner(PrivateKey.random())
    if trx is not None:
        devnet.fund(signer.address, trx)
    return signer


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens here once the socket is closed


def fast(urls, **kwargs) -> ChainClient:
    return ChainClient(urls, timeout=2.0, backoff_seconds=0.01, **kwargs)


def send(client: ChainClient, devnet, unsigned, signer):
    signed = client.sign(unsigned, signer)
    result = client.broadcast(signed)
    assert result.accepted, result
    devnet.mine()
    receipt = client.transaction_receipt(unsigned.txid)
    assert receipt is not None
    return receipt


@pytest.fixture
def client(devnet):
    return chain_client()


def test_account_state_of_funded_and_unknown_accounts(devnet, client):
    alice = new_account(devnet, trx=500)
    state = client.account_state(alice.address)
    assert state.exists
    assert state.balance_sun == 500 * TRX
    assert state.energy_limit == 0
    unknown = client.account_state(new_account(devnet).address)
    assert not unknown.exists
    assert unknown.balance_sun == 0


@pytest.mark.parametrize("bad", ["", "T123", "0x00", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u", None, 5])
def test_bad_addresses_are_a_validation_error(client, bad):
    with pytest.raises(ValidationError):
        client.account_state(bad)


def test_head_block_and_parameters(devnet, client):
    before = client.head_block()
    devnet.mine(2)
    after = client.head_block()
    assert after.number == before.number + 2
    # Blocks are 3 s apart; mining starts at the wall clock's slot when that is later (a
    # slow run), so the gap is at least two slots, whole slots.
    gap = after.timestamp_ms - before.timestamp_ms
    assert gap >= 6_000
    assert gap % 3_000 == 0
    params = client.chain_parameters()
    assert (params.energy_fee, params.transaction_fee, params.free_net_limit) == (100, 1000, 600)


def test_fee_limit_covers_the_estimate_with_headroom():
    assert fee_limit_for(energy=130_285, energy_fee=100) == 15_634_200
    assert fee_limit_for(energy=130_285, energy_fee=100) > 10_000_000  # tronpy's default
    assert fee_limit_for(energy=10**9, energy_fee=100, max_fee_limit=15_000_000_000) == (
        15_000_000_000
    )


def test_usdt_transfer_warm_and_cold_with_stake(devnet, client):
    pool = new_account(devnet, trx=2_000_000)
    devnet.mint(pool.address, 1_000)
    send(client, devnet, client.build_stake(owner=pool.address, amount_sun=1_000_000 * TRX), pool)
    staked = client.account_state(pool.address)
    assert staked.staked_energy_sun == 1_000_000 * TRX
    assert staked.energy_limit > USDT_TRANSFER_ENERGY_COLD * 2

    holder = new_account(devnet, trx=1)
    devnet.mint(holder.address, 1)
    newcomer = new_account(devnet)
    warm = client.estimate_usdt_transfer_energy(owner=pool.address, to=holder.address, amount=USDT)
    cold = client.estimate_usdt_transfer_energy(
        owner=pool.address, to=newcomer.address, amount=USDT
    )
    assert (warm, cold) == (USDT_TRANSFER_ENERGY_WARM, USDT_TRANSFER_ENERGY_COLD)

    params = client.chain_parameters()
    unsigned = client.build_usdt_transfer(
        owner=pool.address,
        to=newcomer.address,
        amount=5 * USDT,
        fee_limit=fee_limit_for(energy=cold, energy_fee=params.energy_fee),
    )
    receipt = send(client, devnet, unsigned, pool)
    assert receipt.success
    assert receipt.energy_usage_total == USDT_TRANSFER_ENERGY_COLD
    assert receipt.energy_from_stake == USDT_TRANSFER_ENERGY_COLD
    assert receipt.energy_fee_sun == 0
    assert client.usdt_balance(newcomer.address) == 5 * USDT
    assert client.usdt_balance(pool.address) == 995 * USDT
    assert client.account_state(pool.address).energy_used == USDT_TRANSFER_ENERGY_COLD


def test_default_tronpy_fee_limit_would_run_out_of_energy(devnet, client):
    """Why fee_limit comes from the estimate: 10 TRX buys 100,000 energy, a cold transfer
    needs 130,285 (docs/tron.md, fee_limit)."""
    sender = new_account(devnet, trx=100)
    devnet.mint(sender.address, 10)
    unsigned = client.build_usdt_transfer(
        owner=sender.address, to=new_account(devnet).address, amount=USDT, fee_limit=10 * TRX
    )
    receipt = send(client, devnet, unsigned, sender)
    assert not receipt.success
    assert receipt.result == "OUT_OF_ENERGY"
    assert receipt.energy_fee_sun == 10 * TRX


def test_trx_transfer_and_duplicate_broadcast(devnet, client):
    alice = new_account(devnet, trx=100)
    bob = new_account(devnet, trx=1)
    unsigned = client.build_trx_transfer(owner=alice.address, to=bob.address, amount_sun=7 * TRX)
    signed = client.sign(unsigned, alice)
    assert client.broadcast(signed).accepted
    again = client.broadcast(signed)  # the same bytes again: already known, not an error
    assert again.accepted
    assert again.code == "DUP_TRANSACTION_ERROR"
    devnet.mine()
    assert client.account_state(bob.address).balance_sun == 8 * TRX
    assert client.transaction_known(unsigned.txid)


def test_rejected_transaction_is_reported_not_raised(devnet, client):
    alice = new_account(devnet, trx=1)
    unsigned = client.build_trx_transfer(
        owner=alice.address, to=new_account(devnet, trx=1).address, amount_sun=50 * TRX
    )
    result = client.broadcast(client.sign(unsigned, alice))
    assert not result.accepted
    assert result.code == "CONTRACT_VALIDATE_ERROR"
    assert "balance is not sufficient" in result.message


def test_wrong_signer_is_refused(devnet, client):
    alice = new_account(devnet, trx=10)
    mallory = new_account(devnet, trx=10)
    unsigned = client.build_trx_transfer(owner=alice.address, to=mallory.address, amount_sun=TRX)
    result = client.broadcast(client.sign(unsigned, mallory))
    assert (result.accepted, result.code) == (False, "SIGERROR")


def test_expiration_follows_node_time_after_advance(devnet, client):
    alice = new_account(devnet, trx=10)
    devnet.advance(3600)  # devnet clock an hour ahead of ours
    unsigned = client.build_trx_transfer(
        owner=alice.address, to=new_account(devnet, trx=1).address, amount_sun=TRX
    )
    head = client.head_block()
    assert unsigned.expiration_ms == pytest.approx(head.timestamp_ms + 60_000, abs=1_000)
    receipt = send(client, devnet, unsigned, alice)
    assert receipt.success


def test_receipt_of_unknown_transaction_is_none(devnet, client):
    assert client.transaction_receipt("ab" * 32) is None
    assert not client.transaction_known("ab" * 32)


def test_failover_to_second_url(devnet):
    client = fast([dead_url(), devnet.url])
    assert client.head_block().number >= 0
    assert client._preferred == 1  # later calls start at the node that answered


def test_all_nodes_down_is_a_clean_error(devnet):
    client = fast([dead_url(), dead_url()])
    with pytest.raises(ChainUnavailable, match="no TRON node answered head block"):
        client.head_block()


def test_server_busy_is_retried_then_fails_over(devnet):
    alice = new_account(devnet, trx=10)
    client = fast([devnet.url])
    unsigned = client.build_trx_transfer(
        owner=alice.address, to=new_account(devnet, trx=1).address, amount_sun=TRX
    )
    signed = client.sign(unsigned, alice)
    devnet.faults(server_busy=True)
    with pytest.raises(ChainUnavailable, match="SERVER_BUSY"):
        client.broadcast(signed)
    devnet.clear_faults()
    assert client.broadcast(signed).accepted


def test_refused_connections_then_recovery(devnet):
    client = fast([devnet.url], attempts_per_node=1)
    devnet.faults(refuse_seconds=1)
    with pytest.raises(ChainUnavailable):
        client.head_block()
    time.sleep(1.2)
    assert client.head_block().number >= 0


def test_latency_beyond_timeout_fails_over(devnet):
    slow_then_good = ChainClient(
        [devnet.url], timeout=0.2, attempts_per_node=1, backoff_seconds=0.01
    )
    devnet.faults(latency_ms=600)
    with pytest.raises(ChainUnavailable, match="Timeout"):
        slow_then_good.head_block()
    devnet.clear_faults()
    assert slow_then_good.head_block().number >= 0


def test_dropped_broadcast_is_accepted_but_never_mined(devnet, client):
    alice = new_account(devnet, trx=10)
    unsigned = client.build_trx_transfer(
        owner=alice.address, to=new_account(devnet, trx=1).address, amount_sun=TRX
    )
    devnet.faults(drop_broadcasts=1)
    assert client.broadcast(client.sign(unsigned, alice)).accepted
    devnet.mine(3)
    assert client.transaction_receipt(unsigned.txid) is None


def test_local_signer_signs_with_encrypted_key(devnet, client, settings):
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 10)
    signer = LocalSigner(address=address, ciphertext=encrypt_private_key(key.to_bytes()))
    assert key.hex() not in repr(signer)
    unsigned = client.build_trx_transfer(
        owner=address, to=new_account(devnet, trx=1).address, amount_sun=TRX
    )
    assert send(client, devnet, unsigned, signer).success


def test_estimate_of_a_transfer_that_would_revert_is_rejected(devnet, client):
    from pools.chain import ChainRejected

    empty = new_account(devnet, trx=10)  # holds no USDT
    with pytest.raises(ChainRejected):
        client.estimate_usdt_transfer_energy(
            owner=empty.address, to=new_account(devnet).address, amount=USDT
        )


def test_fee_limit_refuses_a_missing_estimate():
    with pytest.raises(ValueError, match="positive"):
        fee_limit_for(energy=0, energy_fee=100)


def _session_ids(client: ChainClient) -> list[set[int]]:
    return [{id(node.provider.sess) for node in nodes} for nodes in client._idle]


def test_sessions_are_shared_by_threads_one_caller_at_a_time(devnet):
    """Django under ASGI runs every request on a thread of its own: a session per thread
    was a new session and TCP connection per request."""
    client = fast([devnet.url])
    client.head_block()
    (first,) = _session_ids(client)
    with ThreadPoolExecutor(max_workers=1) as other_thread:
        other_thread.submit(client.head_block).result()
    assert _session_ids(client) == [first]  # the same session, from another thread

    # Callers at the same time never share one: each borrows its own set.
    devnet.faults(latency_ms=300)
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda _: client.head_block(), range(3)))
    finally:
        devnet.clear_faults()
    sessions = _session_ids(client)
    assert len(sessions) == 3
    assert len(set.union(*sessions)) == 3


def test_idle_sessions_are_capped(devnet, monkeypatch):
    monkeypatch.setattr("pools.chain.client.MAX_IDLE_NODE_SETS", 1)
    client = fast([devnet.url])
    devnet.faults(latency_ms=200)
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda _: client.head_block(), range(3)))
    finally:
        devnet.clear_faults()
    assert len(client._idle) == 1


def test_a_forked_child_does_not_reuse_its_parents_sessions(devnet):
    client = fast([devnet.url])
    client.head_block()
    (parent,) = _session_ids(client)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it used, and leave without running teardown
        try:
            client.head_block()
            used = set.union(*_session_ids(client))
            os.write(write, b"fresh" if not used & parent else b"shared")
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 16) == b"fresh"
    assert os.waitstatus_to_exitcode(status) == 0


def test_proxy_settings_from_the_environment_are_honoured(devnet, monkeypatch):
    """Read once per session rather than on every call, but still read."""
    for name in ("NO_PROXY", "ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("http_proxy", dead_url())
    with pytest.raises(ChainUnavailable):
        fast([devnet.url], attempts_per_node=1).head_block()
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    assert fast([devnet.url]).head_block().number >= 0
