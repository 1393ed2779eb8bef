"""`python -m tools.fake_wechat --port 8081`: run the fake WeChat platform until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from .server import start_fake_wechat
from .state import DEFAULT_ACCOUNTS, FakeWeChat


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.fake_wechat", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--account", action="append", default=[], metavar="APPID:SECRET",
                   help="an account the fake knows (repeatable); default: the two demo accounts")  # fmt: skip
    p.add_argument("--no-limits", action="store_true", help="lift quotas and rate limits (benchmarks)")
    p.add_argument("--no-record", action="store_true", help="keep counters only, no per-call records")
    p.add_argument("--followers", type=int, default=0, help="add N numbered followers o_fake_0000000..")
    p.add_argument("--auto-consent", action="store_true", help="accept every subscribe-message send")
    p.add_argument("--token-ttl", type=float, default=7200.0)
    return p


async def _serve(ns: argparse.Namespace) -> None:
    accounts = dict(DEFAULT_ACCOUNTS)
    for spec in ns.account:
        appid, sep, secret = spec.partition(":")
        if not sep or not appid or not secret:
            raise SystemExit(f"--account wants APPID:SECRET, got {spec!r}")
        accounts[appid] = secret
    state = FakeWeChat(accounts)
    state.token_ttl = ns.token_ttl
    state.auto_consent = ns.auto_consent
    state.record_calls = not ns.no_record
    if ns.no_limits:
        state.lift_limits()
    if ns.followers:
        state.add_numbered_followers(ns.followers)
    server = await start_fake_wechat(ns.port, ns.host, state=state)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write(f"fake WeChat listening on {server.url} (accounts: {', '.join(sorted(accounts))})\n")
    sys.stdout.flush()
    await stop.wait()
    await server.stop()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(_parser().parse_args()))


if __name__ == "__main__":
    main()
