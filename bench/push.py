"""Benchmark of a template push to every follower over N service instances, with a kill -9 half way.

    .venv/bin/python bench/push.py [--recipients 1000000] [--instances 1] [--kill-at 0.4 | --no-kill]
                                   [--lease 10] [--hold-sends]

One command: starts embedded Redis and MongoDB-wire servers, the fake WeChat platform as its own
process (limits lifted, per-call recording off, N numbered followers), seeds N followers into
MongoDB (with the service's indexes), creates a template push to all of them through the editors'
service API, then starts `--instances` service processes (`app.py`) that cut the audience into
chunks in parallel key ranges and send. At `--kill-at` of the way it kills one instance with
SIGKILL: with one instance it starts it again; with more, the others take its chunks over (the
takeover time is from the kill until every chunk it held has a new holder or is done).
`--hold-sends` keeps the send rate at 1/s until the snapshot is complete, so the snapshot time is
the cut alone (not sharing the database with the sends). Prints a table: snapshot time and rate,
sends/s, takeover, peak RSS and CPU per instance, and the checks: delivery records = recipients,
each distinct, all "sent", every follower in exactly one chunk, and the fake counted each openid
exactly once. Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import free_port  # noqa: E402
from core.clock import now  # noqa: E402
from core.config import parse_settings  # noqa: E402
from core.deps import Deps, build_deps, close_deps  # noqa: E402
from core.embedded import start_mongo, start_redis  # noqa: E402

PY = sys.executable
DB = "bench_push"
OA = ("wxdemo0000000oa", "demo-oa-secret")  # accounts the fake knows
MP = ("wxdemo0000000mp", "demo-mp-secret")
PROVINCE, JINAN = "370000", "370100"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())


def wait_http(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def settings(redis_url: str, mongo_url: str, fake: str) -> Any:
    raw = {
        "server": {"cookie_secret": "bench"},
        "wechat": {"app_id": OA[0], "app_secret": OA[1], "token": "bench", "api_base": fake},
        "miniprogram": {"app_id": MP[0], "app_secret": MP[1], "api_base": fake},
        "redis": {"url": redis_url},
        "mongo": {"url": mongo_url, "db": DB},
    }
    return parse_settings(raw, env={})


PORTS: list[int] = []  # --port-base: ports handed out from there instead of free ones


def port() -> int:
    if PORTS:
        PORTS[0] += 1
        return PORTS[0]
    return free_port()


def start_service(
    redis_url: str, mongo_url: str, fake: str, data: Path, log: Path, http_port: int
) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SDGH_")},
        "SDGH_SERVER_PORT": str(http_port), "SDGH_SERVER_WORKERS": "1", "SDGH_REDIS_URL": redis_url,
        "SDGH_MONGO_URL": mongo_url, "SDGH_MONGO_DB": DB, "SDGH_DATA_DIR": str(data),
        "SDGH_DEMO_FAKE_WECHAT": "false", "SDGH_WECHAT_API_BASE": fake, "SDGH_MINIPROGRAM_API_BASE": fake,
        "SDGH_WECHAT_APP_ID": OA[0], "SDGH_WECHAT_APP_SECRET": OA[1], "SDGH_MINIPROGRAM_APP_ID": MP[0],
        "SDGH_MINIPROGRAM_APP_SECRET": MP[1], "SDGH_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    out = log.open("ab")
    return subprocess.Popen([PY, "app.py", "--config", "config.yaml"], cwd=ROOT, env=env, stdout=out, stderr=out,
                            start_new_session=True)  # fmt: skip


def start_fake(port: int, followers: int) -> subprocess.Popen[bytes]:
    cmd = [PY, "-m", "tools.fake_wechat", "--port", str(port), "--no-limits", "--no-record", "--followers",
           str(followers)]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


async def seed(deps: Deps, n: int) -> float:
    """N followers like the message path writes them (unionids already looked up: a fresh service's
    back-fill of a million would keep the embedded database busy for a long time), in the service's
    indexes and in the followers' roster."""
    from seed import seed_all
    from services.followers import roster_live
    from services.indexes import ensure_indexes

    await ensure_indexes(deps.db)
    await seed_all(deps.db)
    started = time.monotonic()
    at = now()
    batch = 5000
    for first in range(0, n, batch):
        docs = [
            {"_id": f"o_fake_{i:07d}", "subscribed": True, "subscribed_at": at, "scene": "ADD_SCENE_SEARCH",
             "org": JINAN, "org_path": [PROVINCE, JINAN], "tags": [], "last_interaction_at": at,
             "unionid": f"u_fake_{i:07d}"}
            for i in range(first, min(n, first + batch))
        ]  # fmt: skip
        await deps.db.followers.insert_many(docs, ordered=False)
        await roster_live.fill(deps.redis, {d["_id"]: d["org_path"] for d in docs})  # as their follow events do
    await roster_live.finish_rebuild(deps.redis, True)  # the roster holds every follower seeded
    return time.monotonic() - started


async def create_push(deps: Deps) -> str:
    from services.pushes import compose as pushes

    data = {
        "title": "五一劳动节健步走活动通知", "channel": "template", "audience": {"kind": "all"},
        "schedule": {"kind": "now"},
        "content": {"template_id": "TPL_ACTIVITY_NOTICE", "data": {"thing1": "五一劳动节健步走",
                    "time2": "2025-05-01 09:00"}, "url": "https://example.org/activities/51"},
    }  # fmt: skip
    push = await pushes.create(deps, data, editor_org=PROVINCE, editor="bench")
    await pushes.submit(deps, push["id"], editor_org=PROVINCE, editor="bench")
    return str(push["id"])


def cpu_seconds(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


class Watch:
    """The service processes' peak RSS and CPU time, sampled while they run."""

    def __init__(self) -> None:
        self.peak_rss = 0
        self.cpu = 0.0
        self._proc: psutil.Process | None = None
        self._cpu_seen = 0.0

    def follow(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self._cpu_seen = 0.0

    def sample(self) -> None:
        if self._proc is None:
            return
        try:
            self.peak_rss = max(self.peak_rss, self._proc.memory_info().rss)
            times = self._proc.cpu_times()
            total = times.user + times.system
            self.cpu += total - self._cpu_seen
            self._cpu_seen = total
        except psutil.NoSuchProcess:
            self._proc = None


class Instances:
    """The service processes, each watched for peak RSS and CPU."""

    def __init__(self, redis_url: str, mongo_url: str, fake: str, data: Path, log: Path) -> None:
        self.args = (redis_url, mongo_url, fake, data, log)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.watches: list[Watch] = []
        self.ports: list[int] = []

    def start(self) -> subprocess.Popen[bytes]:
        http_port = port()
        proc = start_service(*self.args, http_port)
        self.ports.append(http_port)
        watch = Watch()
        watch.follow(proc.pid)
        self.procs.append(proc)
        self.watches.append(watch)
        return proc

    def sample(self) -> None:
        for watch in self.watches:
            watch.sample()

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.returncode is None and p.poll() is None]

    def stop(self) -> None:
        for proc in self.live():
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


async def held_by(deps: Deps, pid: int) -> set[str]:
    """Chunks leased by the process `pid` (lease owners are host:pid:suffix)."""
    return {d["_id"] async for d in deps.db.push_chunks.find({"state": "leased"}, {"owner": 1})
            if f":{pid}:" in str(d.get("owner"))}  # fmt: skip


async def taken_over(deps: Deps, chunk_ids: set[str], pid: int, since: float, seen: dict[str, float]) -> bool:
    """True once every chunk the killed process held has another holder (or is done); `seen` gets
    the seconds from the kill to each chunk's takeover."""
    for d in await deps.db.push_chunks.find({"_id": {"$in": sorted(chunk_ids)}}, {"owner": 1, "state": 1}).to_list():
        moved = d["state"] == "done" or (d["state"] == "leased" and f":{pid}:" not in str(d.get("owner")))
        if d["_id"] not in seen and moved:  # done: finished by its holder just before the kill, or by a taker
            seen[d["_id"]] = time.monotonic() - since
    return len(seen) == len(chunk_ids)


async def run(ns: argparse.Namespace) -> int:
    from services.pushes import progress as push_progress

    n = ns.recipients
    data = Path(tempfile.mkdtemp(prefix="bench-push-"))
    redis_srv, mongo_srv = await start_redis(data), await start_mongo(data, port=port() if PORTS else 0)
    fake_port = port()
    fake = f"http://127.0.0.1:{fake_port}"
    fake_proc = start_fake(fake_port, n)
    deps = build_deps(settings(redis_srv.url, mongo_srv.url, fake), redis_url=redis_srv.url, mongo_url=mongo_srv.url)
    instances = Instances(redis_srv.url, mongo_srv.url, fake, data, data / "service.log")
    r: dict[str, Any] = {"recipients": n, "instances": ns.instances}
    try:
        wait_http(f"{fake}/_fake/state")
        print(f"seeding {n:,} followers ...", flush=True)
        r["seed_s"] = await seed(deps, n)
        tuning = {"lease_seconds": ns.lease}
        if ns.hold_sends:
            tuning["rate_template"] = 1
        await deps.redis.hset("push:settings", mapping=tuning)
        others = {"fake WeChat": fake_proc.pid, "MongoDB-wire": mongo_srv.process.pid, "Redis": redis_srv.process.pid}
        others_cpu = {name: cpu_seconds(pid) for name, pid in others.items()}
        for _ in range(ns.instances):
            instances.start()
        for http_port in instances.ports:  # start-up (imports, indexes) is not the snapshot's time
            wait_http(f"http://127.0.0.1:{http_port}/healthz", 120)
        # Neither is the followers' key space, which a running service keeps in the background
        # (services/pushes/keyspace.py): wait for it, and report how long it took.
        keys_from = time.monotonic()
        while not await deps.redis.exists("push:followers:keys"):  # noqa: ASYNC110 - another process's write
            await asyncio.sleep(0.25)
        r["keyspace_s"] = time.monotonic() - keys_from
        started = time.monotonic()
        push_id = await create_push(deps)
        first_sent = killed_at = resumed_at = snap_at = takeover_s = None
        killed_done = 0
        victim: subprocess.Popen[bytes] | None = None
        held: set[str] = set()
        seen: dict[str, float] = {}
        t0 = 0.0
        last_print = 0.0
        while True:
            await asyncio.sleep(0.25)
            instances.sample()
            p = await push_progress.progress(deps, push_id, editor_org=PROVINCE)
            t = time.monotonic()
            if snap_at is None and not p["counting"] and p["total"]:
                snap_at = t
                if ns.hold_sends:
                    await deps.redis.hset("push:settings", "rate_template", 5000)
            if first_sent is None and p["done"] > 0:
                first_sent = t
            if killed_at is not None and resumed_at is None and p["done"] > killed_done:
                resumed_at = t
            if victim is not None and takeover_s is None and await taken_over(deps, held, victim.pid, t0, seen):
                takeover_s = max(seen.values(), default=0.0)
                print("  taken over after (s): " + ", ".join(f"{v:.1f}" for v in sorted(seen.values())), flush=True)
            if t - last_print > 5:
                last_print = t
                rss = "/".join(f"{w.peak_rss / 2**20:.0f}" for w in instances.watches)
                print(f"  {t - started:6.0f}s {p['status']:>8} {p['done']:>9,}/{p['total']:,} {p['rate']:>7.0f}/s "
                      f"rss {rss} MB", flush=True)  # fmt: skip
            if not ns.no_kill and killed_at is None and snap_at is not None and p["done"] >= ns.kill_at * n:
                victim = instances.live()[0]
                held = await held_by(deps, victim.pid)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                t0 = time.monotonic()
                killed_at, killed_done = t, p["done"]
                print(
                    f"  kill -9 of pid {victim.pid} at {killed_done:,} recorded, holding {len(held)} chunks", flush=True
                )
                if ns.instances == 1:
                    instances.start()
            if p["status"] == "done":
                break
            if not instances.live():
                raise RuntimeError("the service exited:\n" + (data / "service.log").read_text()[-3000:])
        finished = time.monotonic()
        instances.sample()
        r["others_cpu"] = {name: cpu_seconds(pid) - others_cpu[name] for name, pid in others.items()}
        gap = (resumed_at - killed_at) if killed_at and resumed_at else 0.0
        r |= {"wall_s": finished - started, "to_first_send_s": (first_sent or finished) - started, "gap_s": gap,
              "killed_done": killed_done, "snapshot_s": (snap_at or finished) - started, "takeover_s": takeover_s,
              "held": len(held), "rss_mb": [w.peak_rss / 2**20 for w in instances.watches],
              "cpu_s": sum(w.cpu for w in instances.watches)}  # fmt: skip
        r["peak_rss_mb"] = max(r["rss_mb"])
        send_from = snap_at if ns.hold_sends and snap_at else (first_sent or started)
        r["send_s"] = finished - send_from - (gap if ns.instances == 1 else 0.0)
        r["sends_per_s"] = n / r["send_s"] if r["send_s"] > 0 else 0.0
        r |= await verify(deps, fake, push_id, n)
    finally:
        instances.stop()
        fake_proc.terminate()
        await close_deps(deps)
        mongo_srv.stop()
        redis_srv.stop()
        shutil.rmtree(data, ignore_errors=True)
    return report(ns, r)


async def verify(deps: Deps, fake: str, push_id: str, n: int) -> dict[str, Any]:
    run = await deps.db.push_runs.find_one({"push": push_id})
    records = await deps.db.push_deliveries.count_documents({})  # every _id is distinct (primary key)
    sent = await deps.db.push_deliveries.count_documents({"status": "sent"})
    summary = get_json(f"{fake}/_fake/deliveries?kind=template")
    in_chunks = distinct = 0
    if run is not None:  # the snapshot: every follower in exactly one chunk
        seen: set[str] = set()
        async for chunk in deps.db.push_chunks.find({"run": run["_id"]}, {"openids": 1}):
            in_chunks += len(chunk["openids"])
            seen.update(chunk["openids"])
        distinct = len(seen)
    ranges = await deps.db.push_ranges.find({"run": run["_id"]} if run else {}, {"owner": 1}).to_list()
    cutters = len({str(d.get("owner", "")).split(":")[1] for d in ranges if d.get("owner")})
    return {"records": records, "records_sent": sent, "run_totals": run.get("totals") if run else None,
            "fake_total": summary["total"], "fake_distinct": summary["distinct"],
            "fake_duplicates": len(summary["duplicates"]), "in_chunks": in_chunks, "chunk_distinct": distinct,
            "ranges": len(ranges), "cutters": cutters}  # fmt: skip


def report(ns: argparse.Namespace, r: dict[str, Any]) -> int:
    n = r["recipients"]
    checks = {
        "records = recipients": r["records"] == n,
        "records all sent": r["records_sent"] == n,
        "snapshot: every follower in one chunk": r["in_chunks"] == r["chunk_distinct"] == n,
        "fake: each openid once": r["fake_total"] == r["fake_distinct"] == n and r["fake_duplicates"] == 0,
    }
    takeover = r["takeover_s"]
    if not ns.no_kill and ns.instances > 1:
        checks["takeover within lease + 2 s"] = takeover is not None and takeover <= ns.lease + 2
    rows = [
        ("recipients", f"{n:,}", ""),
        ("instances", f"{ns.instances}", ""),
        ("followers seeded (s)", f"{r['seed_s']:.0f}", ""),
        ("followers' key space (s)", f"{r['keyspace_s']:.1f}", "background, before the push"),
        ("snapshot (s)", f"{r['snapshot_s']:.1f}", "push created to every chunk written"),
        ("snapshot rate (recipients/s)", f"{n / r['snapshot_s']:.0f}", ""),
        ("ranges / instances cutting", f"{r['ranges']} / {r['cutters']}", ""),
        ("start to first send (s)", f"{r['to_first_send_s']:.1f}", "snapshot's first chunk"),
        ("kill -9 at (recorded)", f"{r['killed_done']:,}" if not ns.no_kill else "-", ""),
        ("restart gap (s)", f"{r['gap_s']:.1f}" if ns.instances == 1 else "-", f"restart + lease ({ns.lease:g} s)"),
        (
            "takeover of its chunks (s)",
            f"{takeover:.1f} ({r['held']})" if takeover is not None else "-",
            f"<= lease + 2 = {ns.lease + 2:g}",
        ),
        ("wall time (s)", f"{r['wall_s']:.0f}", ""),
        ("sends/s (sending time)", f"{r['sends_per_s']:.0f}", ">= 2,000"),
        ("peak RSS per instance (MB)", "/".join(f"{m:.0f}" for m in r["rss_mb"]), "< 300"),
        ("service CPU per send (us)", f"{r['cpu_s'] / n * 1e6:.0f}", "all instances"),
        *((f"CPU of {name} (s)", f"{cpu:.0f}", "same machine") for name, cpu in r["others_cpu"].items()),
        ("CPU of the instances (s)", f"{r['cpu_s']:.0f}", ""),
        ("delivery records", f"{r['records']:,}", f"= {n:,}, distinct _ids"),
        ("records with status sent", f"{r['records_sent']:,}", f"= {n:,}"),
        ("in chunks / distinct", f"{r['in_chunks']:,} / {r['chunk_distinct']:,}", f"= {n:,}"),
        ("fake: deliveries / distinct", f"{r['fake_total']:,} / {r['fake_distinct']:,}", f"= {n:,}"),
        ("fake: duplicates", f"{r['fake_duplicates']}", "0"),
    ]
    print(f"\n{'metric':<32}{'value':>18}   target")
    for name, value, target in rows:
        print(f"{name:<32}{value:>18}   {target}")
    failed = [name for name, ok in checks.items() if not ok]
    print("\nchecks: " + ("all passed" if not failed else "FAILED: " + ", ".join(failed)))
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--kill-at", type=float, default=0.4, help="fraction recorded when the service is killed")
    parser.add_argument("--no-kill", action="store_true", help="no kill -9, one uninterrupted run")
    parser.add_argument("--lease", type=float, default=10.0, help="chunk lease seconds (push:settings)")
    parser.add_argument("--instances", type=int, default=1, help="service processes sharing the push")
    parser.add_argument("--port-base", type=int, default=0, help="take ports from here up (default: free ones)")
    parser.add_argument("--hold-sends", action="store_true", help="send at 1/s until the snapshot is complete")
    ns = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still stop what it started
    if ns.port_base:
        PORTS.append(ns.port_base)
    sys.exit(asyncio.run(run(ns)))


if __name__ == "__main__":
    main()
