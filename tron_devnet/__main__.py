"""``python -m tron_devnet``: run a TRON devnet node (java-tron HTTP API) in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from tron_devnet import addresses
from tron_devnet.chain import DETERMINISTIC_GENESIS_KEY, Chain
from tron_devnet.server import MANUAL, REALTIME, DevnetServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tron_devnet", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    p.add_argument(
        "--block-interval-mode",
        choices=[REALTIME, MANUAL],
        default=REALTIME,
        help="realtime: a block every 3 s; manual: only on POST /devnet/mine or /devnet/advance",
    )
    p.add_argument(
        "--solidity-lag",
        type=int,
        default=19,
        help="blocks between head and the solidified block seen by /walletsolidity (default 19)",
    )
    p.add_argument("--state-file", default=os.environ.get("TRON_DEVNET_STATE_FILE"))
    p.add_argument("--genesis-trx", type=int, default=1_000_000_000)
    p.add_argument(
        "--deterministic",
        action="store_true",
        default=os.environ.get("TRON_DEVNET_DETERMINISTIC", "") not in ("", "0", "false"),
        help="use the fixed, publicly known genesis key (also TRON_DEVNET_DETERMINISTIC=1)",
    )
    p.add_argument(
        "--genesis-key",
        default=os.environ.get("TRON_DEVNET_GENESIS_KEY"),
        help="hex private key of the genesis account (also TRON_DEVNET_GENESIS_KEY)",
    )
    return p.parse_args(argv)


def banner(server: DevnetServer) -> str:
    chain = server.chain
    line = "=" * 72
    return "\n".join(
        [
            line,
            "  TRON DEVNET  --  DEVNET ONLY, NOT A REAL NETWORK, KEYS ARE NOT SECRET",
            line,
            f"  HTTP API (java-tron /wallet):  http://{server.host}:{server.port}/",
            f"  block mode: {server.mode}   solidity lag: {chain.solidity_lag} blocks",
            f"  genesis address (DEVNET ONLY):     {addresses.to_base58(chain.genesis_address)}",
            f"  genesis private key (DEVNET ONLY): {chain.genesis_private_key}",
            f"  genesis balance: {chain.accounts[chain.genesis_address].balance // 1_000_000} TRX",
            "  USDT TRC20: TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t   control API: /devnet/*",
            line,
        ]
    )


async def run(args: argparse.Namespace) -> None:
    if args.state_file and Path(args.state_file).exists():
        chain = Chain.load(args.state_file, solidity_lag=args.solidity_lag)
    else:
        key = args.genesis_key or (DETERMINISTIC_GENESIS_KEY if args.deterministic else None)
        chain = Chain(
            genesis_private_key=key, genesis_trx=args.genesis_trx, solidity_lag=args.solidity_lag
        )
    server = DevnetServer(
        chain,
        host=args.host,
        port=args.port,
        mode=args.block_interval_mode,
        state_file=args.state_file,
    )
    await server.start()
    print(banner(server), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
