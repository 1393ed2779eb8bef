"""Benchmark of coupon grabs: POST /api/mp/coupons/<id>/grab through the whole service, one process.

    .venv/bin/python bench/coupons.py [--seconds 10] [--connections 200] [--members 20000] [--stock 1000]

One command: starts embedded Redis (AOF) and MongoDB-wire servers, the fake WeChat platform in its own
process (the winners' risk-rank calls go there, as they would go to WeChat), and ONE service process.
It imports `--members` roster members under 济南 (370100; uneven sizes over its districts), creates a
session for each exactly as the login stores them, and then measures three things:

1. throughput: wrk drives grabs at `--connections` for `--seconds` on a batch of `--stock` coupons (each
   request a member round robin with a fresh Idempotency-Key: the first grabs win, the rest are told
   "sold out" or "already granted", which is what a real peak mostly answers); beside it, in the same
   run, a bare Tornado handler answering a JSON POST (the ceiling of one Tornado process);
2. exactness: one grab from each member at once (all `--members` requests in flight over
   `--connections` connections) on a fresh batch of `--stock`: exactly `--stock` granted, at most one per
   member, every org's bucket exactly its fair share, ledger documents = grants;
3. kill -9: the same on a third batch, the service killed with SIGKILL mid-run and restarted; clients
   retry with their Idempotency-Key until answered: granted answers = ledger documents = Redis's count
   (this batch has `--members` / 2 coupons, so grants go on across the kill).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ballots import ensure_wrk, stop, wait_http  # noqa: E402
from bench.coupon_peers import grab_all  # noqa: E402
from bench.harness import children_cpu, cpu_seconds, free_port, run_wrk, start_databases  # noqa: E402
from core.clock import now  # noqa: E402
from core.config import parse_settings  # noqa: E402
from core.deps import Deps, build_deps, close_deps  # noqa: E402

PY = sys.executable
DB = "bench_coupons"
SECRET = "bench-mp-secret"
MP_APPID = "wxbenchmp"


def settings(redis_url: str, mongo_url: str, fake: str = "http://127.0.0.1:1") -> Any:
    raw = {
        "server": {"cookie_secret": "bench"},
        "wechat": {"app_id": "wxbench", "app_secret": "x", "token": "x", "api_base": fake},
        "miniprogram": {"app_id": MP_APPID, "app_secret": SECRET, "api_base": fake},
        "redis": {"url": redis_url},
        "mongo": {"url": mongo_url, "db": DB},
    }
    return parse_settings(raw, env={})


def start_service(port: int, fake: str, redis_url: str, mongo_url: str, data: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SDGH_SERVER_PORT": str(port), "SDGH_SERVER_WORKERS": "1", "SDGH_REDIS_URL": redis_url,
        "SDGH_MONGO_URL": mongo_url, "SDGH_MONGO_DB": DB, "SDGH_DATA_DIR": str(data),
        "SDGH_DEMO_FAKE_WECHAT": "false", "SDGH_WECHAT_API_BASE": fake, "SDGH_MINIPROGRAM_API_BASE": fake,
        "SDGH_MINIPROGRAM_APP_ID": MP_APPID, "SDGH_MINIPROGRAM_APP_SECRET": SECRET, "SDGH_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    return subprocess.Popen([PY, "app.py", "--config", "config.yaml"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def start_aside(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([PY, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip


async def prepare(deps: Deps, members: int) -> tuple[list[str], dict[str, int]]:
    """The roster (uneven districts of 济南 plus some members directly in 济南) and one session each."""
    from services.members.sessions_live import SessionData, SessionStore
    from services.orgs import store as orgs

    await deps.db.members.delete_many({})
    districts = [o.code for o in await orgs.children(deps.db, "370100")]
    weights = [i + 1 for i in range(len(districts))] + [1]  # the last: members directly in 370100
    whole = sum(weights)
    docs, sizes = [], dict.fromkeys([*districts, "370100"], 0)
    for i in range(members):
        slot = (i * whole // members) if members else 0
        k, acc = 0, weights[0]
        while slot >= acc:
            k += 1
            acc += weights[k]
        org = districts[k] if k < len(districts) else "370100"
        path = ["370000", "370100"] + ([org] if org != "370100" else [])
        docs.append({"_id": f"B{i:06d}", "name": f"会员{i}", "phone": "", "org": org, "org_path": path})
        sizes[org] += 1
    for start in range(0, len(docs), 5000):
        await deps.db.members.insert_many(docs[start : start + 5000])
    store = SessionStore(deps.redis, deps.redis_pipe)
    tokens = []
    for d in docs:
        data = SessionData(f"o_cpn_{d['_id']}", "", d["_id"], d["org"], tuple(d["org_path"]))
        tokens.append(await store.create(data, "bench-key"))
    return tokens, sizes


async def create_batch(deps: Deps, stock: int, title: str) -> dict[str, Any]:
    from services.coupons import admin
    from services.editors.accounts import Editor
    from services.editors.scope import Scope

    scope = Scope(Editor("bench", "基准", "editor", "370100", ("370000", "370100")), "370100")
    spec = admin.parse_spec({
        "title": title, "value_cents": 2000, "stock": stock,
        "waves": [{"opens_at": (now() - timedelta(minutes=1)).isoformat(),
                   "closes_at": (now() + timedelta(hours=2)).isoformat(), "share": 1}],
        "expires_at": (now() + timedelta(days=30)).isoformat(),
    })  # fmt: skip
    return await admin.create(deps, scope, spec)


async def settle(deps: Deps, batch: dict[str, Any]) -> dict[str, Any]:
    """After the flusher: Redis's grants and per-bucket counts beside MongoDB's ledger documents."""
    from services.coupons.jobs import live

    for _ in range(1200):
        if not await live(deps).pending():
            break
        await asyncio.sleep(0.1)
    bid = batch["_id"]
    stock = await live(deps).stock(bid)
    docs = await deps.db.entitlements.find({"source": f"cpn:{bid}"}, {"member_id": 1, "bucket": 1}).to_list()
    per_bucket: dict[str, int] = {}
    for d in docs:
        per_bucket[d["bucket"]] = per_bucket.get(d["bucket"], 0) + 1
    alloc = {k.split(":", 1)[1]: v for k, v in batch["alloc"].items()}
    return {
        "redis_granted": stock.get("_granted", 0), "docs": len(docs), "members": len({d["member_id"] for d in docs}),
        "buckets_exact": all(per_bucket.get(b, 0) == n == stock.get(f"got:{b}", 0) for b, n in alloc.items()),
        "buckets": len(alloc),
    }  # fmt: skip


def wrk(
    wrk_bin: str, base: str, path: str, tokens: Path, seconds: int, connections: int, script: str = "coupons.lua"
) -> dict[str, float]:
    # ballots.lua takes the number of options before the run tag
    extra = ["8"] if script == "ballots.lua" else []
    cmd = [wrk_bin, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency",
           "-s", str(ROOT / "bench" / script), base, "--", path, str(tokens), *extra,
           f"r{time.time_ns() % 10**12:x}"]  # fmt: skip
    return run_wrk(cmd, 1)


async def create_poll(deps: Deps) -> str:
    from services.polls import definitions as polls

    poll = await polls.create(deps, "370000", {
        "title": "基准测试投票", "options": [{"title": f"选项{i}"} for i in range(1, 9)],
        "opens_at": now() - timedelta(minutes=1), "closes_at": now() + timedelta(hours=2), "publish": True,
        "limit": {"per": "day", "count": 100}, "anti_brush": {"user_per_minute": 100_000, "ip_per_minute": 10_000_000},
    })  # fmt: skip
    return str(poll["_id"])


def measure(
    wrk_bin: str, base: str, path: str, tokens: Path, ns: argparse.Namespace, pid: int, script: str = "coupons.lua"
) -> dict[str, float]:
    proc = psutil.Process(pid)
    wrk_before = children_cpu()
    before = cpu_seconds([proc.pid])
    r = wrk(wrk_bin, base, path, tokens, ns.seconds, ns.connections, script)
    r["cpu_s"] = cpu_seconds([proc.pid]) - before
    r["wrk_s"] = children_cpu() - wrk_before
    if script == "ballots.lua":
        r["refused"] = r.get("limited", 0) + r.get("throttled", 0)
    answers = r["created"] + r["refused"]
    r["rps"] = answers / r["seconds"]
    r["cpu_us"] = r["cpu_s"] / max(1, answers) * 1e6
    return r


def run(ns: argparse.Namespace) -> int:
    wrk_bin = ensure_wrk()
    data = Path(tempfile.mkdtemp(prefix="bench-coupons-"))
    embedded, redis_url, mongo_url = start_databases(data)
    port, fake_port, bare_port = free_port(), free_port(), free_port()
    base, fake = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{fake_port}"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    out: dict[str, Any] = {}
    try:
        procs["fake"] = start_aside(["-m", "tools.fake_wechat", "--port", str(fake_port), "--no-limits", "--no-record",
                                     "--account", f"{MP_APPID}:{SECRET}", "--account", "wxbench:x"])  # fmt: skip
        procs["bare"] = start_aside(["bench/coupon_peers.py", str(bare_port)])
        procs["service"] = start_service(port, fake, redis_url, mongo_url, data)
        wait_http(f"{base}/healthz")
        wait_http(f"{fake}/_fake/state")
        deps = build_deps(settings(redis_url, mongo_url, fake), redis_url=redis_url, mongo_url=mongo_url)
        loop = asyncio.new_event_loop()
        try:
            tokens, sizes = loop.run_until_complete(prepare(deps, ns.members))
            token_file = data / "tokens.txt"
            # wrk walks this file in order: shuffled, so every org's members arrive interleaved, as at a real peak
            token_file.write_text("\n".join(random.Random(7).sample(tokens, len(tokens))) + "\n")
            warm = loop.run_until_complete(create_batch(deps, ns.stock, "热身"))
            wrk(wrk_bin, base, f"/api/mp/coupons/{warm['_id']}/grab", token_file, 2, ns.connections)
            # 1. throughput beside the bare ceiling
            t1 = loop.run_until_complete(create_batch(deps, ns.stock, "吞吐"))
            out["ours"] = measure(wrk_bin, base, f"/api/mp/coupons/{t1['_id']}/grab", token_file, ns,
                                  procs["service"].pid)  # fmt: skip
            wait_http(f"http://127.0.0.1:{bare_port}/grab")
            out["bare"] = measure(wrk_bin, f"http://127.0.0.1:{bare_port}", "/grab", token_file, ns, procs["bare"].pid)
            out["t1"] = loop.run_until_complete(settle(deps, t1))
            # the ballots path in the same process, same run (bench/ballots.py alone measures it in full)
            poll_id = loop.run_until_complete(create_poll(deps))
            out["ballots"] = measure(wrk_bin, base, f"/api/mp/polls/{poll_id}/ballots", token_file, ns,
                                     procs["service"].pid, script="ballots.lua")  # fmt: skip
            # 2. exactness: every member at once
            t2 = loop.run_until_complete(create_batch(deps, ns.stock, "精确"))
            g2 = loop.run_until_complete(
                grab_all(base, f"/api/mp/coupons/{t2['_id']}/grab", tokens, ns.connections, "x")
            )
            out["t2"] = {**loop.run_until_complete(settle(deps, t2)), **g2}
            # 3. kill -9 mid-run, restart, clients retry with their keys
            # grants go on across the kill: half the members can win
            t3 = loop.run_until_complete(create_batch(deps, max(ns.stock, ns.members // 2), "断电"))

            def restart() -> None:
                os.killpg(procs["service"].pid, signal.SIGKILL)
                procs["service"].wait()
                procs["service"] = start_service(port, fake, redis_url, mongo_url, data)
                wait_http(f"{base}/healthz")

            g3 = loop.run_until_complete(grab_all(base, f"/api/mp/coupons/{t3['_id']}/grab", tokens, ns.connections,
                                                  "k", kill_at=ns.kill_after, restart=restart))  # fmt: skip
            out["t3"] = {**loop.run_until_complete(settle(deps, t3)), **g3}
            out["sizes"] = sizes
        finally:
            loop.run_until_complete(close_deps(deps))
            loop.close()
    finally:
        for proc in procs.values():
            stop(proc)
        for server in reversed(embedded):
            server.stop()
        shutil.rmtree(data, ignore_errors=True)
    return report(ns, out)


def report(ns: argparse.Namespace, out: dict[str, Any]) -> int:
    ours, bare, t1, t2, t3 = out["ours"], out["bare"], out["t1"], out["t2"], out["t3"]
    print(
        f"\ncoupon grab benchmark: one service process, wrk -t1 -c{ns.connections} -d{ns.seconds}s, "
        f"{ns.members} members, stock {ns.stock}, {os.cpu_count()} cores shared with wrk and the databases\n"
    )
    rows = [
        ("grab answers/s (201 + 409)", f"{ours['rps']:.0f}", ">= 3,000"),
        ("  of which granted / refused", f"{int(ours['created'])} / {int(ours['refused'])}", ""),
        ("latency p50 / p99 (ms)", f"{ours['p50_ms']:.1f} / {ours['p99_ms']:.1f}", "p99 < 100"),
        ("errors (socket, other status)", f"{int(ours['errors'])} / {int(ours['other'])}", "0 / 0"),
        ("service CPU per grab (us)", f"{ours['cpu_us']:.0f}", ""),
        ("service CPU busy (of one core)", f"{ours['cpu_s'] / ours['seconds']:.0%}", "other tenants share the cores"),
        ("grabs per service CPU-second", f"{1e6 / ours['cpu_us']:.0f}", "capacity of one free core"),
        ("ballots (same process, same run) /s", f"{out['ballots']['rps']:.0f}", ""),
        ("service CPU per ballot (us)", f"{out['ballots']['cpu_us']:.0f}", "beside the grab's"),
        ("bare Tornado JSON POST req/s", f"{bare['rps']:.0f}", ""),
        ("bare Tornado CPU per request (us)", f"{bare['cpu_us']:.0f}", ""),
        ("grab path / bare (CPU ceiling)", f"{bare['cpu_us'] / ours['cpu_us']:.0%}", ">= 60 %"),
        ("ballot path / bare (CPU ceiling)", f"{bare['cpu_us'] / out['ballots']['cpu_us']:.0%}", ""),
        ("grab path / bare (req/s)", f"{ours['rps'] / max(1, bare['rps']):.0%}", ""),
        ("throughput batch: granted (Redis = docs)", f"{t1['redis_granted']} = {t1['docs']}", f"<= {ns.stock}"),
        ("all-at-once: requests / granted", f"{ns.members} / {t2['winners']}", f"{ns.stock}"),
        ("  ledger docs / distinct members", f"{t2['docs']} / {t2['members']}", "= granted"),
        ("  every bucket exact", f"{'yes' if t2['buckets_exact'] else 'NO'} ({t2['buckets']})", "yes"),
        ("  statuses", " ".join(f"{k}:{v}" for k, v in sorted(t2["statuses"].items())), ""),
        ("  wall time (s)", f"{t2['seconds']:.1f}", ""),
        (
            "kill -9 run: answered before the kill",
            f"{t3['at_kill'].get('answered', 0)} of {ns.members}",
            "mid-run" if t3["at_kill"].get("answered", 0) < ns.members else "NOT mid-run: lower --kill-after",
        ),
        ("  granted answers", f"{t3['winners']}", "= ledger docs"),
        ("  ledger docs / Redis grants", f"{t3['docs']} / {t3['redis_granted']}", "equal"),
        ("  distinct members / retries", f"{t3['members']} / {t3['retries']}", ""),
    ]
    for name, value, target in rows:
        print(f"{name:<36} {value:>22}   {target}")
    exact = (
        t2["winners"] == t2["docs"] == t2["members"] == ns.stock and t2["buckets_exact"]
        and t3["winners"] == t3["docs"] == t3["members"] == t3["redis_granted"]
        and t1["redis_granted"] == t1["docs"] <= ns.stock
    )  # fmt: skip
    print("\ncounts exact" if exact else "\nCOUNTS DIFFER")
    return 0 if exact and not ours["errors"] and not ours["other"] else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--stock", type=int, default=1_000)
    parser.add_argument("--kill-after", type=float, default=2.0, help="seconds into the kill -9 run")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
