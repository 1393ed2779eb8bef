"""Lottery draw figures: 10^6 entries drawn (sort, Merkle root, seed, order) and verified, timed.

    make bench-lottery                      # the draw itself, 10^5 and 10^6 entries
    python bench/lottery_draw.py --service 1000000   # also the service's close + draw over Redis/MongoDB

The draw runs once per lottery on the console's request; what matters is that a province-wide
lottery with a million entries is drawn and independently recomputed within seconds. `--service N`
loads N entries into embedded Redis/MongoDB (data under var/bench-lottery) and times `admin.close`
(freeze: Redis set vs MongoDB, Merkle root) and `admin.run_draw` (read the frozen codes, draw).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import start_databases  # noqa: E402
from services.lotteries import draw  # noqa: E402
from tools import verify_draw  # noqa: E402


def run(n: int, prizes: int, reserves: int) -> tuple[float, float, float, float, bool]:
    codes = [draw.new_code() for _ in range(n)]
    server_seed = draw.new_server_seed()
    beacon = hashlib.sha256(b"beacon").hexdigest()
    t0 = time.perf_counter()
    codes = sorted(set(codes))
    t1 = time.perf_counter()
    root = draw.merkle_root(codes)
    t2 = time.perf_counter()
    order = draw.draw_order(codes, draw.draw_seed(server_seed, beacon, root), prizes + reserves)
    tiers = [("奖品", prizes)]
    won = draw.winners(order, set(), tiers)
    t3 = time.perf_counter()
    pub = {
        "commitment": draw.commitment(server_seed), "server_seed": server_seed,
        "beacon": {"kind": "manual", "value": beacon}, "merkle_root": root, "entries": codes,
        "tiers": [{"name": "奖品", "count": prizes}], "order": order, "disqualified": [],
        "winners": [{"tier": t, "code": c} for t, c in won],
    }  # fmt: skip
    ok = verify_draw.verify(pub) == []
    t4 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, t4 - t3, ok


async def service(n: int, redis_url: str, mongo_url: str) -> tuple[float, float, int]:
    from datetime import timedelta

    from core.clock import now
    from core.config import parse_settings
    from core.deps import build_deps, close_deps
    from seed import seed_all
    from services.editors.accounts import Editor
    from services.editors.scope import Scope
    from services.indexes import ensure_indexes
    from services.lotteries import admin, live

    raw = {"server": {"cookie_secret": "bench"}, "wechat": {"app_id": "wxb", "app_secret": "x", "token": "x"},
           "miniprogram": {"app_id": "wxbmp", "app_secret": "x"}, "redis": {"url": redis_url},
           "mongo": {"url": mongo_url, "db": "bench_lottery"}}  # fmt: skip
    deps = build_deps(parse_settings(raw, env={}), redis_url=redis_url, mongo_url=mongo_url)
    try:
        await deps.redis.flushall()
        await deps.mongo.drop_database("bench_lottery")
        await ensure_indexes(deps.db)
        await seed_all(deps.db)
        scope = Scope(Editor("bench", "bench", "editor", "370000", ("370000",)), "370000")
        until = now() + timedelta(minutes=5)
        lot = await admin.create(deps, scope, {
            "mode": "draw", "title": "bench", "entries_until": until.isoformat(), "reserves": 1000,
            "tiers": [{"name": "奖", "title": "奖", "count": 1000}], "beacon": {"kind": "manual", "description": "b"},
        })  # fmt: skip
        pairs = [(f"M{i:08d}", c) for i, c in enumerate({draw.new_code() for _ in range(n)})]
        await live.rebuild_entries(deps, lot, "open", int(until.timestamp() * 1000), pairs)
        coll = deps.db.lottery_entries
        for start in range(0, len(pairs), 20_000):
            await coll.insert_many([{"_id": f"{lot}:{m}", "lottery_id": lot, "member_id": m, "code": c,
                                     "entered_at": until} for m, c in pairs[start : start + 20_000]])  # fmt: skip
        t0 = time.perf_counter()
        closed = await admin.close(deps, scope, lot, now=until + timedelta(seconds=1))
        t1 = time.perf_counter()
        drawn = await admin.run_draw(deps, scope, lot, beacon_value="1 2 3")
        t2 = time.perf_counter()
        assert closed["entry_count"] == len(pairs) and len(drawn["winners"]) == 1000
        return t1 - t0, t2 - t1, len(pairs)
    finally:
        await deps.mongo.drop_database("bench_lottery")
        await close_deps(deps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--service", type=int, default=0, help="also time the service's close + draw with N entries")
    ns = parser.parse_args()
    print(f"{'entries':>10} {'prizes':>7} {'sort s':>7} {'merkle s':>9} {'order s':>8} {'draw total s':>13} "
          f"{'verify s':>9} {'verified':>9}")  # fmt: skip
    for n, prizes in ((100_000, 100), (1_000_000, 1_000)):
        sort_s, merkle_s, order_s, verify_s, ok = run(n, prizes, prizes)
        total = sort_s + merkle_s + order_s
        print(f"{n:>10} {prizes:>7} {sort_s:>7.2f} {merkle_s:>9.2f} {order_s:>8.2f} {total:>13.2f} "
              f"{verify_s:>9.2f} {'100 %' if ok else 'FAILED':>9}")  # fmt: skip
    if ns.service:
        data = ROOT / "var" / "bench-lottery"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        embedded, redis_url, mongo_url = start_databases(data)
        try:
            close_s, draw_s, n = asyncio.run(service(ns.service, redis_url, mongo_url))
        finally:
            for server in embedded:
                server.stop()
        print(f"\nservice path, {n} entries in Redis + MongoDB: close (freeze + root) {close_s:.2f} s, "
              f"draw (read frozen codes + draw) {draw_s:.2f} s, total {close_s + draw_s:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
