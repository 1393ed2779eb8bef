"""Benchmark of scaling out: three service instances on one Redis Cluster beside one instance on a
standalone Redis, in the same run; and a push to 1 M recipients over three instances with one killed.

    .venv/bin/python bench/scale.py [--rounds 1] [--seconds 8] [--connections 150] [--members 6000]
                                    [--recipients 1000000] [--lease 10]
                                    [--push-redis cluster|standalone] [--send-during-cut] [--cut-only]
                                    [--skip-throughput] [--skip-push]

Everything runs on this machine: Debian's redis-server 7.0 (tools/redis_lab.py) as a three-master
Redis Cluster and as one standalone server (same binary, AOF fsync every second), one MongoDB-wire
server, the fake WeChat platform in its own process, and the service processes (`app.py`).

1. Throughput, interleaved (`--rounds` × `--setups`, default 1 instance on standalone Redis, 1 instance on
   the cluster, 3 instances on the cluster):
   for each set-up its instances start, sessions are created as the login stores them, and wrk drives
   ballots (bench/ballots.lua) and then coupon grabs (bench/coupons.lua: 201 granted or 409 sold out /
   already granted, as a real peak answers), one wrk per instance with the connections split, for
   `--seconds` each. Per set-up: answers/s summed over the instances, p99 (worst instance), and CPU per
   answered request of the service processes and of Redis (all nodes), so the per-request cost of the
   cluster is visible even where 2 shared cores cap the sum. Counts are checked: ballots stored in
   MongoDB = 201 answers.
2. Push: `--recipients` followers are seeded once. Before each push Redis is emptied and the followers'
   roster rebuilt from MongoDB (timed, with its memory per follower), as after a Redis that lost its data.
   One instance cuts the snapshot of a template push to all of them (timed from the run's creation until
   every chunk is written, sends held at 1/s meanwhile unless `--send-during-cut`; the push is then
   stopped); then three instances cut and send a second push
   (timed), one instance is killed with SIGKILL at 40 % and the others take its leased chunks over (the
   time from the kill until the last of its chunks has a new holder, against the lease); every
   recipient must be delivered exactly once (the fake counts per openid; MongoDB has one record each).
   Peak RSS per instance is sampled throughout.

Prints one table; exits non-zero when a count is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ballots import ensure_wrk, served_201, wait_http  # noqa: E402
from bench.coupons import MP_APPID, SECRET, create_batch, create_poll, prepare  # noqa: E402
from bench.harness import children_cpu, cpu_seconds, free_port, run_wrk  # noqa: E402
from bench.push import OA, create_push, get_json, seed  # noqa: E402
from core.config import parse_settings  # noqa: E402
from core.deps import Deps, build_deps, close_deps  # noqa: E402
from core.embedded import EmbeddedServer, start_mongo  # noqa: E402
from services.followers import roster  # noqa: E402
from services.pushes.live import Tuning  # noqa: E402
from tools import redis_lab  # noqa: E402

PY = sys.executable


# ----------------------------------------------------------------------------------------- processes


@dataclass
class Redis:
    """One Redis set-up: its URL and the pids whose CPU counts as "Redis"."""

    name: str
    url: str
    pids: list[int]
    stop: Any


def standalone_redis(data: Path) -> Redis:
    node = redis_lab.start_standalone(data)
    assert node.process is not None
    return Redis("standalone", node.url, [node.process.pid], node.stop)


def cluster_redis(data: Path) -> Redis:
    cluster = redis_lab.start_cluster(data, masters=3)
    return Redis("cluster", cluster.url, [n.process.pid for n in cluster.nodes if n.process], cluster.stop)


@dataclass
class Instance:
    port: int
    proc: subprocess.Popen[bytes]
    peak_rss: int = 0
    cpu: float = 0.0  # user + system seconds, as last sampled (a killed instance keeps its last sample)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sample(self) -> None:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc = psutil.Process(self.proc.pid)
            self.peak_rss = max(self.peak_rss, proc.memory_info().rss)
            times = proc.cpu_times()
            self.cpu = times.user + times.system

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_instances(n: int, redis: Redis, mongo_url: str, db: str, fake: str, data: Path) -> list[Instance]:
    out: list[Instance] = []
    for i in range(n):
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SDGH_")},
            "SDGH_SERVER_PORT": str(port), "SDGH_SERVER_WORKERS": "1", "SDGH_SERVER_INSTANCES": str(n),
            "SDGH_REDIS_URL": redis.url, "SDGH_MONGO_URL": mongo_url, "SDGH_MONGO_DB": db,
            "SDGH_DATA_DIR": str(data / f"i{i}"), "SDGH_DEMO_FAKE_WECHAT": "false",
            "SDGH_WECHAT_API_BASE": fake, "SDGH_MINIPROGRAM_API_BASE": fake,
            "SDGH_WECHAT_APP_ID": OA[0], "SDGH_WECHAT_APP_SECRET": OA[1],
            "SDGH_MINIPROGRAM_APP_ID": MP_APPID, "SDGH_MINIPROGRAM_APP_SECRET": SECRET, "SDGH_LOG_LEVEL": "WARNING",
        }  # fmt: skip
        log = (data / f"service-{db}-{i}.log").open("ab")
        proc = subprocess.Popen([PY, "app.py", "--config", "config.yaml"], cwd=ROOT, env=env, stdout=log,
                                stderr=log, start_new_session=True)  # fmt: skip
        out.append(Instance(port, proc))
    try:
        for inst in out:
            wait_http(f"{inst.base}/healthz", 600)  # a million followers: a long start-up
    except RuntimeError:
        for inst in out:
            inst.stop()
        raise
    return out


def start_fake(port: int, followers: int = 0) -> subprocess.Popen[bytes]:
    cmd = [PY, "-m", "tools.fake_wechat", "--port", str(port), "--no-limits", "--no-record",
           "--account", f"{MP_APPID}:{SECRET}", "--followers", str(followers)]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop_proc(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def settings(redis_url: str, mongo_url: str, db: str, fake: str) -> Any:
    raw = {
        "server": {"cookie_secret": "bench"},
        "wechat": {"app_id": OA[0], "app_secret": OA[1], "token": "bench", "api_base": fake},
        "miniprogram": {"app_id": MP_APPID, "app_secret": SECRET, "api_base": fake},
        "redis": {"url": redis_url},
        "mongo": {"url": mongo_url, "db": db},
    }
    return parse_settings(raw, env={})


# ---------------------------------------------------------------------------------------- throughput


@dataclass
class Load:
    """One measured wrk load over a set of instances, summed."""

    answers: float = 0.0
    created: float = 0.0
    seconds: float = 0.0
    errors: float = 0.0
    other: float = 0.0
    p99_ms: float = 0.0
    service_cpu: float = 0.0
    redis_cpu: float = 0.0
    mongo_cpu: float = 0.0
    wrk_cpu: float = 0.0

    @property
    def per_s(self) -> float:
        return self.answers / self.seconds if self.seconds else 0.0

    def us(self, cpu: float) -> float:
        return cpu / self.answers * 1e6 if self.answers else float("nan")


def wrk_all(
    wrk_bin: str, instances: list[Instance], path: str, token_files: list[Path], seconds: int, connections: int,
    script: str,
) -> list[dict[str, float]]:  # fmt: skip
    """One wrk per instance at once (wrk talks to one host), the connections split between them."""
    per = max(1, connections // len(instances))
    extra = ["8"] if script == "ballots.lua" else []

    def one(i: int) -> dict[str, float]:
        cmd = [wrk_bin, "-t1", f"-c{per}", f"-d{seconds}s", "--timeout", "5s", "--latency",
               "-s", str(ROOT / "bench" / script), instances[i].base, "--", path, str(token_files[i]), *extra,
               f"r{i}x{time.time_ns() % 10**12:x}"]  # fmt: skip
        return run_wrk(cmd, 1)

    with concurrent.futures.ThreadPoolExecutor(len(instances)) as pool:
        return list(pool.map(one, range(len(instances))))


def measure(
    wrk_bin: str, instances: list[Instance], redis: Redis, mongo_pid: int, path: str, token_files: list[Path],
    ns: argparse.Namespace, script: str,
) -> Load:  # fmt: skip
    pids = [i.proc.pid for i in instances]
    before = cpu_seconds(pids), cpu_seconds(redis.pids), cpu_seconds([mongo_pid]), children_cpu()
    results = wrk_all(wrk_bin, instances, path, token_files, ns.seconds, ns.connections, script)
    after = cpu_seconds(pids), cpu_seconds(redis.pids), cpu_seconds([mongo_pid]), children_cpu()
    load = Load(seconds=max(r["seconds"] for r in results), p99_ms=max(r["p99_ms"] for r in results))
    for r in results:
        refused = r.get("refused", r.get("limited", 0) + r.get("throttled", 0))
        load.created += r["created"]
        load.answers += r["created"] + refused
        load.errors += r["errors"]
        load.other += r["other"]
    load.service_cpu, load.redis_cpu, load.mongo_cpu, load.wrk_cpu = (a - b for a, b in zip(after, before, strict=True))
    return load


async def ballots_stored(deps: Deps, poll_id: str, expected: int) -> int:
    """Ballots in MongoDB once the flushers caught up with `expected` (up to a minute)."""
    n = 0
    for _ in range(600):
        n = await deps.db.ballots.count_documents({"poll": poll_id})
        if n >= expected:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # and nothing more arrives
    return int(await deps.db.ballots.count_documents({"poll": poll_id}))


def throughput_round(
    wrk_bin: str, n: int, redis: Redis, mongo: EmbeddedServer, fake: str, data: Path, ns: argparse.Namespace, tag: str
) -> dict[str, Any]:
    db = f"bench_scale_{tag}"
    out: dict[str, Any] = {"setup": f"{n} × service on {redis.name} Redis", "instances": n}
    deps = build_deps(settings(redis.url, mongo.url, db, fake), redis_url=redis.url, mongo_url=mongo.url)
    loop = asyncio.new_event_loop()
    instances: list[Instance] = []
    try:
        loop.run_until_complete(deps.mongo.drop_database(db))
        loop.run_until_complete(deps.redis.flushall())  # every set-up starts from an empty Redis
        try:
            instances = start_instances(n, redis, mongo.url, db, fake, data)
        except RuntimeError as exc:
            logs = sorted(data.glob(f"service-{db}-*.log"))
            tail = logs[-1].read_text(errors="replace")[-600:] if logs else ""
            out["error"] = f"start: {exc}\n{tail}"
            return out
        try:
            tokens, _ = loop.run_until_complete(prepare(deps, ns.members))
        except Exception as exc:  # noqa: BLE001 - a set-up the code does not support yet is reported, not fatal
            out["error"] = f"sessions: {type(exc).__name__}: {str(exc)[:120]}"
            return out
        random.Random(7).shuffle(tokens)
        files = []
        for i in range(n):  # each instance its own share of the workers
            f = data / f"tokens-{tag}-{i}.txt"
            f.write_text("\n".join(tokens[i::n]) + "\n")
            files.append(f)
        poll_id = loop.run_until_complete(create_poll(deps))
        ballot_path = f"/api/mp/polls/{poll_id}/ballots"
        wrk_all(wrk_bin, instances, ballot_path, files, 2, ns.connections, "ballots.lua")  # warm-up
        assert mongo.process is not None
        out["ballots"] = measure(wrk_bin, instances, redis, mongo.process.pid, ballot_path, files, ns, "ballots.lua")
        time.sleep(1)  # answers in flight when wrk stopped are still being sent
        # 201 answers each instance sent (its /metrics: wrk misses those in flight at its end), warm-up included
        out["ballots_201"] = sum(served_201(i.base) for i in instances)
        out["ballots_stored"] = loop.run_until_complete(ballots_stored(deps, poll_id, out["ballots_201"]))
        batch = loop.run_until_complete(create_batch(deps, ns.stock, "扩容基准"))
        grab_path = f"/api/mp/coupons/{batch['_id']}/grab"
        out["grabs"] = measure(wrk_bin, instances, redis, mongo.process.pid, grab_path, files, ns, "coupons.lua")
        for inst in instances:
            inst.sample()
        out["rss_mb"] = max(i.peak_rss for i in instances) / 2**20
    finally:
        for inst in instances:
            inst.stop()
        loop.run_until_complete(deps.mongo.drop_database(db))
        loop.run_until_complete(close_deps(deps))
        loop.close()
    return out


# ---------------------------------------------------------------------------------------------- push


@dataclass
class PushRun:
    instances: int
    snapshot_s: float = 0.0
    plan_s: float = 0.0  # from the run's creation until its ranges were written
    roster_rebuild_s: float = 0.0
    roster_bytes: float = 0.0
    settle_s: float = 0.0
    source: str = ""
    send_s: float = 0.0
    delivered: int = 0
    records: int = 0
    records_sent: int = 0
    fake_total: int = 0
    fake_distinct: int = 0
    fake_duplicates: int = 0
    killed_at: int = 0
    takeover_s: float | None = None
    takeover_chunks: int = 0
    peak_rss_mb: list[float] = field(default_factory=list)
    service_cpu: float = 0.0
    cut_cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the snapshot, per party
    cut_window_s: float = 0.0  # the wall time those CPU seconds were counted over
    error: str = ""

    @property
    def cut_cores(self) -> float:
        """Cores kept busy while the snapshot was cut by the instances, MongoDB and Redis together."""
        return sum(self.cut_cpu.values()) / self.cut_window_s if self.cut_window_s else 0.0


async def settled(deps: Deps, pids: list[int], quiet: float = 0.25, within: float = 600.0) -> float:
    """Wait until the instances' start-up work is done: the follower org cache is rebuilt and these
    processes together use less than `quiet` of a core over a second, or `within` seconds passed (with
    many followers the unionid back-fill keeps the embedded database busy for minutes: each step sorts
    every follower left). Returns the wait."""
    started = time.monotonic()
    procs = [psutil.Process(p) for p in pids]
    while time.monotonic() - started < within:
        before = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
        await asyncio.sleep(1.0)
        used = sum(p.cpu_times().user + p.cpu_times().system for p in procs) - before
        if used < quiet and await deps.redis.exists("msg:fo:v2:built"):
            break
    return time.monotonic() - started


async def _used_memory(deps: Deps) -> int:
    """Bytes a standalone Redis uses (0 on a cluster, whose client asks one node only)."""
    info = await deps.redis.info("memory")
    return int(info.get("used_memory", 0)) if not getattr(deps.redis, "nodes_manager", None) else 0


async def _run_doc(deps: Deps, push_id: str) -> dict[str, Any] | None:
    return await deps.db.push_runs.find_one({"push": push_id}, {"status": 1, "snap": 1, "created_at": 1})


async def push_once(
    deps: Deps, n_instances: int, redis: Redis, mongo: EmbeddedServer, fake_port: int, data: Path,
    ns: argparse.Namespace, *, full: bool,
) -> PushRun:  # fmt: skip
    """One push to every follower on `n_instances`: the snapshot timed; with `full`, sent to the end with a
    kill -9 of one instance at 40 % (its chunks' takeover timed) and checked exactly once."""
    db = deps.db
    for name in ("pushes", "push_runs", "push_chunks", "push_ranges", "push_deliveries"):
        await db.drop_collection(name)
    from services.indexes import ensure_indexes

    await ensure_indexes(db)
    out = PushRun(n_instances)
    await deps.redis.flushall()  # no run state left from the previous push
    # The followers' roster is gone with it: rebuilt from MongoDB as a service does after Redis lost it.
    rebuild_from = time.monotonic()
    memory_before = await _used_memory(deps)
    await roster.rebuild_roster(db, deps.redis)
    out.roster_rebuild_s = time.monotonic() - rebuild_from
    out.roster_bytes = (await _used_memory(deps) - memory_before) / max(1, ns.recipients)
    fake = f"http://127.0.0.1:{fake_port}"
    fake_proc = start_fake(fake_port, ns.recipients)
    instances: list[Instance] = []
    try:
        wait_http(f"{fake}/_fake/state", 120)
        tuning: dict[str, float] = {"lease_seconds": ns.lease}
        if not ns.send_during_cut:  # the cut alone: sends wait (1/s) until every chunk is written
            tuning["rate_template"] = 1
        await deps.redis.hset("push:settings", mapping=tuning)
        instances = start_instances(n_instances, redis, mongo.url, deps.settings.mongo.db, fake, data)
        # Start-up work (the follower org cache rebuilt after the flush, first jobs) is not the snapshot's.
        out.settle_s = await settled(deps, [i.proc.pid for i in instances] + [mongo.process.pid])
        parties = {"instances": [i.proc.pid for i in instances], "mongo": [mongo.process.pid], "redis": redis.pids}
        cpu_from = {name: cpu_seconds(pids) for name, pids in parties.items()}
        cpu_from_at = time.time()
        push_id = await create_push(deps)
        started = time.time()
        snap_done = first_done = 0.0
        killed: Instance | None = None
        leased_at_kill: dict[str, str] = {}
        moved: dict[str, float] = {}
        dead_owner = ""
        kill_time = 0.0
        while True:
            await asyncio.sleep(0.25)
            for inst in instances:
                inst.sample()
            run = await _run_doc(deps, push_id)
            if run is None:
                continue
            if not snap_done and (run.get("snap") or {}).get("done"):
                snap_done = time.time()
                out.cut_cpu = {name: cpu_seconds(pids) - cpu_from[name] for name, pids in parties.items()}
                out.cut_window_s = time.time() - cpu_from_at
                snap = run["snap"]
                created = run["created_at"].timestamp()
                out.snapshot_s = (snap["done_at"].timestamp() if "done_at" in snap else snap_done) - created
                out.plan_s = snap["planned_at"].timestamp() - created if "planned_at" in snap else 0.0
                out.source = str(run["snap"].get("source", ""))
                await deps.redis.hset("push:settings", "rate_template", Tuning().rate_template)
                if not full:
                    break
            done = await db.push_deliveries.estimated_document_count()
            if done and not first_done:
                first_done = time.time()
            if killed is None and done >= 0.4 * ns.recipients:
                killed = next(i for i in instances)
                leased = db.push_chunks.find({"state": "leased", "run": run["_id"]}, {"owner": 1})
                leased_at_kill = {d["_id"]: d["owner"] async for d in leased}
                killed.kill()
                kill_time = time.time()  # after the query, which can take a while on a busy database
                out.killed_at = done
            if killed is not None and leased_at_kill and (not dead_owner or len(moved) < out.takeover_chunks):
                # A chunk whose holder changes after the kill was the dead instance's (the others finish theirs).
                async for d in db.push_chunks.find({"_id": {"$in": list(leased_at_kill)}}, {"owner": 1, "state": 1}):
                    if d["_id"] in moved or d.get("owner") == leased_at_kill[d["_id"]]:
                        continue
                    dead_owner = dead_owner or leased_at_kill[d["_id"]]
                    if leased_at_kill[d["_id"]] == dead_owner:
                        moved[d["_id"]] = time.time()
                out.takeover_chunks = sum(1 for o in leased_at_kill.values() if o == dead_owner) if dead_owner else 0
            if run.get("status") == "done":
                break
            if any(i.proc.poll() is not None for i in instances if i is not killed):
                raise RuntimeError("an instance exited; see its log under " + str(data))
            if time.time() - started > ns.push_timeout:
                raise RuntimeError(f"push not done after {ns.push_timeout} s")
        sending_from = snap_done if snap_done and not ns.send_during_cut else first_done or started
        out.send_s = time.time() - sending_from
        if moved:
            out.takeover_s = max(moved.values()) - kill_time
        for inst in instances:
            inst.sample()
        out.peak_rss_mb = [i.peak_rss / 2**20 for i in instances]
        out.service_cpu = sum(i.cpu for i in instances)
        if full:
            out.records = await db.push_deliveries.count_documents({})
            out.records_sent = await db.push_deliveries.count_documents({"status": "sent"})
            summary = get_json(f"{fake}/_fake/deliveries?kind=template")
            out.fake_total, out.fake_distinct = summary["total"], summary["distinct"]
            out.fake_duplicates = len(summary["duplicates"])
    except Exception as exc:  # noqa: BLE001 - reported in the table
        out.error = f"{type(exc).__name__}: {str(exc)[:160]}"
    finally:
        for inst in instances:
            inst.stop()
        stop_proc(fake_proc)
    return out


async def push_part(
    redis_one: Redis, redis_three: Redis, mongo: EmbeddedServer, data: Path, ns: argparse.Namespace
) -> tuple[float, PushRun, PushRun]:
    db = "bench_scale_push"
    fake_port = free_port()
    fake = f"http://127.0.0.1:{fake_port}"
    deps1 = build_deps(settings(redis_one.url, mongo.url, db, fake), redis_url=redis_one.url, mongo_url=mongo.url)
    deps3 = build_deps(settings(redis_three.url, mongo.url, db, fake), redis_url=redis_three.url, mongo_url=mongo.url)
    try:
        await deps1.mongo.drop_database(db)
        print(f"seeding {ns.recipients:,} followers ...", flush=True)
        seed_s = await seed(deps1, ns.recipients)
        print(f"  {seed_s:.0f} s; one instance cuts the snapshot ...", flush=True)
        one = await push_once(deps1, 1, redis_one, mongo, fake_port, data, ns, full=False)
        print(f"  {one.snapshot_s:.1f} s; three instances push to everyone ...", flush=True)
        three = await push_once(deps3, 3, redis_three, mongo, fake_port, data, ns, full=not ns.cut_only)
        return seed_s, one, three
    finally:
        with contextlib.suppress(Exception):  # a dead database server must not hide the table
            await deps1.mongo.drop_database(db)
        await close_deps(deps1)
        await close_deps(deps3)


# -------------------------------------------------------------------------------------------- report


def report(ns: argparse.Namespace, rounds: list[dict[str, Any]], push: Any) -> int:
    ok = True
    print(f"\nscale-out benchmark: {os.cpu_count()} cores shared by every process below; wrk -t1 per instance, "
          f"{ns.connections} connections in all, {ns.seconds} s per load\n")  # fmt: skip
    if rounds:
        head = f"{'set-up':<34}{'ballots/s':>10}{'p99 ms':>8}{'svc µs':>8}{'redis µs':>9}{'grabs/s':>9}{'p99 ms':>8}"
        print(head + f"{'svc µs':>8}{'redis µs':>9}{'stored=201':>12}{'RSS MB':>8}")
        for r in rounds:
            if "error" in r:
                print(f"{r['setup']:<34}  not measured: {r['error']}")
                ok = False
                continue
            b, g = r["ballots"], r["grabs"]
            exact = r["ballots_stored"] == r["ballots_201"]
            ok = ok and exact and not (b.errors or b.other or g.errors or g.other)
            print(f"{r['setup']:<34}{b.per_s:>10.0f}{b.p99_ms:>8.1f}{b.us(b.service_cpu):>8.0f}{b.us(b.redis_cpu):>9.0f}"
                  f"{g.per_s:>9.0f}{g.p99_ms:>8.1f}{g.us(g.service_cpu):>8.0f}{g.us(g.redis_cpu):>9.0f}"
                  f"{'yes' if exact else 'NO':>12}{r['rss_mb']:>8.0f}")  # fmt: skip
            if b.errors or b.other or g.errors or g.other:
                print(f"{'':<34}errors: ballots {int(b.errors)} socket / {int(b.other)} status, grabs "
                      f"{int(g.errors)} / {int(g.other)}")  # fmt: skip
        _ratios(rounds)
    if push is not None:
        seed_s, one, three = push
        n = ns.recipients
        print(f"\npush to {n:,} recipients (followers seeded in {seed_s:.0f} s), chunk lease {ns.lease:g} s")
        rows = [
            ("roster rebuilt from MongoDB (s)", f"{one.roster_rebuild_s:.1f} / {three.roster_rebuild_s:.1f}",
             "standalone / cluster"),
            ("roster in Redis per follower (bytes)", f"{one.roster_bytes:.0f}",
             "standalone; path province, city"),
            ("instances settled after start-up (s)", f"{one.settle_s:.0f} / {three.settle_s:.0f}",
             "before the push is created"),
            ("snapshot, 1 instance (s)", one.error or f"{one.snapshot_s:.2f} (cut from {one.source})",
             f"planned after {one.plan_s:.2f}"),
            ("snapshot, 3 instances (s)", three.error or f"{three.snapshot_s:.2f} (cut from {three.source})",
             f"planned after {three.plan_s:.2f}"),
        ]  # fmt: skip
        for label, r in (("1 instance", one), ("3 instances", three)):
            if r.cut_cpu:
                parts = " + ".join(f"{r.cut_cpu[k]:.1f}" for k in ("instances", "mongo", "redis"))
                rows.append((f"  CPU s in the cut, {label}", f"{parts} = {r.cut_cores:.2f} cores",
                             "instances + MongoDB + Redis"))  # fmt: skip
        if one.snapshot_s and three.snapshot_s:
            rows.append(("snapshot speed-up", f"{one.snapshot_s / three.snapshot_s:.2f}×", ">= 2.5×"))
            if one.cut_cores:
                ceiling = min(3.0, (os.cpu_count() or 1) / one.cut_cores)
                rows.append(("  ceiling on this machine's cores", f"{ceiling:.2f}×",
                             "cores / cores one instance's cut keeps busy"))  # fmt: skip
        if not three.error and not ns.cut_only:
            takeover = f"{three.takeover_s:.1f}" if three.takeover_s is not None else "no chunk held"
            exact = three.records == three.records_sent == three.fake_total == three.fake_distinct == n
            exact = exact and three.fake_duplicates == 0
            ok = ok and exact
            rows += [
                ("sending, 3 instances (s) / sends/s", f"{three.send_s:.0f} / {n / three.send_s:.0f}", ""),
                (
                    "service CPU per send, all instances (µs)",
                    f"{three.service_cpu / n * 1e6:.0f}",
                    "incl. start-up and the snapshot",
                ),  # fmt: skip
                ("kill -9 of one instance at (records)", f"{three.killed_at:,}", "40 %"),
                (
                    "its leased chunks taken over after (s)",
                    f"{takeover} ({three.takeover_chunks} chunks)",
                    f"<= lease + 2 = {ns.lease + 2:g}",
                ),  # fmt: skip
                ("delivery records / sent", f"{three.records:,} / {three.records_sent:,}", f"= {n:,}"),
                (
                    "fake: deliveries / distinct / dup.",
                    f"{three.fake_total:,} / {three.fake_distinct:,} / {three.fake_duplicates}",
                    f"= {n:,}, 0",
                ),  # fmt: skip
                ("peak RSS per instance (MB)", " / ".join(f"{m:.0f}" for m in three.peak_rss_mb), "< 300"),
                ("exactly once", "yes" if exact else "NO", "yes"),
            ]
        elif three.error or one.error:
            ok = False
        for name, value, target in rows:
            print(f"{name:<40}{value:>34}   {target}")
    print("\nchecks: all passed" if ok else "\nchecks: FAILED (see above)")
    return 0 if ok else 1


def _ratios(rounds: list[dict[str, Any]]) -> None:
    """Each set-up against 1 instance on standalone Redis, averaged over the rounds: answers/s and CPU per
    request (service + Redis). 1 × cluster isolates what the cluster costs; 3 × cluster adds what three
    processes on the same two cores cost (less batching per process, three sets of background loops)."""
    ok = [r for r in rounds if "error" not in r]
    base = [r for r in ok if r["setup"].startswith("1 × service on standalone")]
    if not base:
        return

    def avg(rs: list[dict[str, Any]], kind: str, what: str) -> float:
        if what == "per_s":
            vals = [r[kind].per_s for r in rs]
        else:
            vals = [r[kind].us(r[kind].service_cpu + r[kind].redis_cpu) for r in rs]
        return sum(vals) / len(vals)

    print()
    for setup in dict.fromkeys(r["setup"] for r in ok if r not in base):
        these = [r for r in ok if r["setup"] == setup]
        for kind in ("ballots", "grabs"):
            rate = avg(these, kind, "per_s") / avg(base, kind, "per_s")
            cpu1, cpu = avg(base, kind, "cpu"), avg(these, kind, "cpu")
            print(f"{setup} / 1 × standalone, {kind}: {rate:.2f}× answers/s; CPU per request (service + Redis) "
                  f"{cpu:.0f} vs {cpu1:.0f} µs = {cpu / cpu1 - 1:+.0%} (target <= +15 %)")  # fmt: skip


# ---------------------------------------------------------------------------------------------- main


def run(ns: argparse.Namespace) -> int:
    wrk_bin = ensure_wrk() if not ns.skip_throughput else ""
    data = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    mongo = asyncio.run(start_mongo(data))
    standalone = standalone_redis(data / "standalone")
    cluster = cluster_redis(data / "cluster")
    fake_port = free_port()
    rounds: list[dict[str, Any]] = []
    push = None
    try:
        if not ns.skip_throughput:
            fake_proc = start_fake(fake_port)
            fake = f"http://127.0.0.1:{fake_port}"
            try:
                wait_http(f"{fake}/_fake/state")
                setups = [(int(n), {"standalone": standalone, "cluster": cluster}[kind])
                          for n, kind in (item.split(":") for item in ns.setups.split(","))]  # fmt: skip
                for k in range(ns.rounds):
                    for n, redis in setups:
                        print(f"round {k + 1}: {n} × service on {redis.name} Redis ...", flush=True)
                        tag = f"{n}{redis.name}{k}"
                        rounds.append(throughput_round(wrk_bin, n, redis, mongo, fake, data, ns, tag))
            finally:
                stop_proc(fake_proc)
        if not ns.skip_push:
            three = cluster if ns.push_redis == "cluster" else standalone
            push = asyncio.run(push_part(standalone, three, mongo, data, ns))
    finally:
        cluster.stop()
        standalone.stop()
        mongo.stop()
        if not ns.keep:
            shutil.rmtree(data, ignore_errors=True)
        else:
            print(f"data and service logs kept in {data}")
    return report(ns, rounds, push)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds over the set-ups")
    parser.add_argument("--setups", default="1:standalone,1:cluster,3:cluster",
                        help="instances:redis per set-up, measured in this order in every round")  # fmt: skip
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=150)
    parser.add_argument("--members", type=int, default=6000, help="workers with a session (also grabbing)")
    parser.add_argument("--stock", type=int, default=1000)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--lease", type=float, default=10.0, help="chunk lease seconds (push:settings)")
    parser.add_argument("--push-redis", choices=["cluster", "standalone"], default="cluster",
                        help="Redis of the three-instance push (one instance always uses standalone)")  # fmt: skip
    parser.add_argument("--push-timeout", type=float, default=3600.0)
    parser.add_argument(
        "--send-during-cut",
        action="store_true",
        help="send while the audience is cut (default: sends wait until the snapshot is complete)",
    )
    parser.add_argument(
        "--cut-only",
        action="store_true",
        help="three instances cut the snapshot and stop (no sending, kill or exactly-once check)",
    )
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-push", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (service logs)")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
