"""Benchmark of competition judging at the issue's scale, every score through the service.

    .venv/bin/python bench/competitions.py [--entries 1000] [--judges 30] [--concurrency 250]
                                           [--redis-url URL --mongo-url URL]

One command: starts embedded Redis and MongoDB-wire servers (or uses the given URLs) in a temp dir,
seeds the org tree, builds the same scene as tests/competitions/test_figures.py (entries spread over
Jinan's counties and townships, judges with random affiliations along the tree and 16 declared
conflicts each), then through the use cases: assigns judges (services.competitions.panel), sends every
assignment's first score twice at once (judging.submit; the second must get 409), scores the rest,
rebuilds every result from the raw rows and compares with the stored ones, and publishes. Prints a
table; exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import start_databases  # noqa: E402
from core.config import parse_settings  # noqa: E402
from core.deps import build_deps, close_deps  # noqa: E402
from core.errors import Conflict  # noqa: E402
from seed import seed_all  # noqa: E402
from services.competitions import closing, judging, panel, results, store  # noqa: E402
from services.competitions.access import loaded  # noqa: E402
from services.competitions.recusal import intersects  # noqa: E402
from services.editors.accounts import Editor  # noqa: E402
from services.indexes import ensure_indexes  # noqa: E402
from tests.competitions import test_figures as figures  # noqa: E402
from tests.competitions.helpers import CITY, scope_of  # noqa: E402


async def bench(ns: argparse.Namespace, redis_url: str, mongo_url: str) -> int:
    raw = {
        "server": {"cookie_secret": "bench"},
        "wechat": {"app_id": "wxbench", "app_secret": "x", "token": "x"},
        "miniprogram": {"app_id": "wxbenchmp", "app_secret": "x"},
        "redis": {"url": redis_url},
        "mongo": {"url": mongo_url, "db": "bench_competitions"},
    }
    deps = build_deps(parse_settings(raw, env={}), redis_url=redis_url, mongo_url=mongo_url)
    await deps.mongo.drop_database("bench_competitions")
    await ensure_indexes(deps.db)
    await seed_all(deps.db)
    figures.N_ENTRIES, figures.N_JUDGES = ns.entries, ns.judges
    rng = random.Random(16)
    cid = await figures.scene(deps, rng)
    rows_out: list[tuple[str, str]] = []
    t = time.perf_counter()
    await panel.start_judging(deps, await scope_of(deps, CITY), cid)
    rows_out.append(("assign (plan + insert)", f"{time.perf_counter() - t:.2f} s"))

    entries = {e["_id"]: e for e in await store.entries(deps.db, cid)}
    judges = {j["username"]: j for j in await store.judges(deps.db, cid)}
    tasks = await store.assignments(deps.db, cid)
    bad = sum(
        a["entry"] in judges[a["judge"]]["conflicts"]
        or entries[a["entry"]]["org"] in judges[a["judge"]]["conflicts"]
        or any(intersects(entries[a["entry"]]["org_path"], p, CITY) for p in judges[a["judge"]]["affiliations"])
        for a in tasks
    )
    quota = Counter(a["entry"] for a in tasks)
    loads = Counter(a["judge"] for a in tasks)
    mean = len(tasks) / len(judges)
    rows_out += [
        ("entries x judges", f"{len(entries)} x {len(judges)}"),
        ("recusal violations", str(bad)),
        ("entries short of quota", str(sum(n < figures.QUOTA for n in quota.values()))),
        ("load min / mean / max", f"{min(loads.values())} / {mean:.2f} / {max(loads.values())}"),
    ]

    latencies: list[float] = []
    conflicts = 0

    async def submit(a: dict[str, Any], twice: bool) -> None:
        nonlocal conflicts
        judge = Editor(a["judge"], "评委", "judge", CITY, ("370000", CITY))
        values = {"c1": rng.randint(0, 20) / 2, "c2": float(rng.randint(0, 10))}
        start = time.perf_counter()
        calls = [judging.submit(deps, judge, cid, a["blind_code"], values) for _ in range(2 if twice else 1)]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        latencies.append(time.perf_counter() - start)
        for o in outcomes:
            if isinstance(o, Conflict):
                conflicts += 1
            elif isinstance(o, BaseException):
                raise o

    t = time.perf_counter()
    for i in range(0, len(tasks), ns.concurrency):
        await asyncio.gather(*(submit(a, i == 0) for a in tasks[i : i + ns.concurrency]))
    took = time.perf_counter() - t
    stored_rows = await deps.db.comp_scores.count_documents({"competition": cid})
    doubled = min(ns.concurrency, len(tasks))
    lat = sorted(latencies)
    rows_out += [
        ("score submissions", f"{len(tasks)} + {doubled} duplicates in {took:.1f} s ({len(tasks) / took:.0f}/s)"),
        ("submission p50 / p99", f"{statistics.median(lat) * 1000:.0f} / {lat[int(len(lat) * 0.99)] * 1000:.0f} ms"),
        ("rows stored / duplicates refused", f"{stored_rows} / {conflicts}"),
    ]
    comp = await loaded(deps.db, cid)
    t = time.perf_counter()
    rebuilt = await results.rebuild(deps.db, comp)
    rows_out.append(("rebuild all results from rows", f"{time.perf_counter() - t:.2f} s"))
    same = rebuilt == await results.stored(deps.db, comp)
    rows_out.append(("rebuilt == stored", str(same)))
    published = await closing.publish(deps, await scope_of(deps, CITY), cid)
    rows_out.append(("published", published.status))
    await deps.mongo.drop_database("bench_competitions")
    await close_deps(deps)

    width = max(len(k) for k, _ in rows_out)
    print(f"{'check'.ljust(width)}  result")
    for k, v in rows_out:
        print(f"{k.ljust(width)}  {v}")
    ok = bad == 0 and stored_rows == len(tasks) and conflicts == doubled and same and published.status == "publicity"
    ok = ok and all(abs(n - mean) <= 1 for n in loads.values()) and min(quota.values()) == figures.QUOTA
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--entries", type=int, default=1000)
    p.add_argument("--judges", type=int, default=30)
    p.add_argument("--concurrency", type=int, default=250)
    p.add_argument("--redis-url", default="")
    p.add_argument("--mongo-url", default="")
    ns = p.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-competitions-"))
    embedded, redis_url, mongo_url = start_databases(data, ns.redis_url, ns.mongo_url)
    try:
        return asyncio.run(bench(ns, redis_url, mongo_url))
    finally:
        for server in embedded:
            server.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
