"""``python -m tron_devnet`` (banner, deterministic key, state file) and realtime blocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tronpy import Tron
from tronpy.keys import PrivateKey
from tronpy.providers import HTTPProvider

from tron_devnet.chain import DETERMINISTIC_GENESIS_KEY
from tron_devnet.testing import devnet_server
from tron_devnet.tests.helpers import TRX, new_account

ROOT = Path(__file__).resolve().parents[2]


def start_cli(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tron_devnet", "--port", "0", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("=") and len(lines) > 3:
            break
    return proc, "".join(lines)


def test_cli_banner_deterministic_key_and_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    proc, banner = start_cli(
        "--block-interval-mode",
        "manual",
        "--state-file",
        str(state_file),
        env={"TRON_DEVNET_DETERMINISTIC": "1"},
    )
    try:
        assert "DEVNET ONLY" in banner
        assert DETERMINISTIC_GENESIS_KEY in banner
        address = PrivateKey(bytes.fromhex(DETERMINISTIC_GENESIS_KEY)).public_key
        assert address.to_base58check_address() in banner
        url = banner.split("http://", 1)[1].split("/", 1)[0]
        state = httpx.get(f"http://{url}/devnet/state").json()
        assert state["mode"] == "manual"
        assert state["solidity_lag"] == 19
        httpx.post(f"http://{url}/devnet/mine", json={"blocks": 7})
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert proc.returncode == 0
    assert state_file.exists()  # saved on shutdown
    proc, banner = start_cli("--block-interval-mode", "manual", "--state-file", str(state_file))
    try:
        url = banner.split("http://", 1)[1].split("/", 1)[0]
        assert httpx.get(f"http://{url}/devnet/state").json()["head_block"] == 7
        assert DETERMINISTIC_GENESIS_KEY in banner  # the key comes back from the state file
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_realtime_mode_mines_every_3_seconds() -> None:
    with devnet_server(mode="realtime") as devnet:
        tron = Tron(HTTPProvider(devnet.url + "/"))
        key = PrivateKey(bytes.fromhex(devnet.genesis_private_key))
        start = tron.get_latest_block_number()
        _, to = new_account(devnet)
        # tronpy's default flow, unchanged: local-clock expiration, wait() polling
        ret = tron.trx.transfer(devnet.genesis_address, to, TRX).build().sign(key).broadcast()
        info = ret.wait(timeout=10, interval=0.2)
        assert info["blockNumber"] > start
        block = tron.get_block(info["blockNumber"])
        assert abs(block["block_header"]["raw_data"]["timestamp"] - time.time() * 1000) < 6000
        assert tron.get_account_balance(to) == 1
