"""Benchmark of video heartbeats: POST /api/mp/learning/courses/<c>/units/<u>/heartbeat, one service process.

    .venv/bin/python bench/learning.py [--learners 10000] [--rate 700] [--seconds 30] [--connections 72]

One command: starts embedded Redis and MongoDB-wire servers, our service (`app.py`, one process), creates
and publishes a course with a one-hour video through the editors' service, makes `--learners` sessions
(as POST /api/mp/login stores them) and starts the video for each (the unit's Redis state, as the start
endpoint writes it). wrk then sends each learner's next 15 s segment, paced to about `--rate` heartbeats a
second in total, so every learner beats every learners/rate seconds (14.3 s at the defaults: each
heartbeat passes the 10 s gate and counts). Afterwards the progress write-behind is drained and checked:
MongoDB holds one progress document per learner who beat, with the coverage Redis shows.

Each heartbeat is the full path: bearer session lookup (Redis), JSON body checked against the schema, one
Lua script (10 s gate, 1.25x allowance, segment merge, 90 % completion, write-behind queue), the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ballots import ensure_wrk, login_one, make_sessions, settings, start_service, stop, wait_http  # noqa: E402
from bench.harness import children_cpu, cpu_seconds, free_port, run_wrk, start_databases  # noqa: E402
from core.deps import build_deps, close_deps  # noqa: E402

VIDEO_S = 3600


async def prepare(redis_url: str, mongo_url: str, tokens: list[str]) -> str:
    """The course (published by a province editor) and every learner's started video unit."""
    from services.editors.accounts import Editor
    from services.editors.scope import Scope
    from services.learning import admin, live
    from services.learning.studying import now_ms

    deps = build_deps(settings(redis_url, mongo_url), redis_url=redis_url, mongo_url=mongo_url)
    try:
        scope = Scope(Editor("bench", "基准", "admin", "370000", ("370000",)), "370000")
        video = {"id": "v1", "kind": "video", "title": "视频", "url": "https://v.example/b.mp4", "duration_s": VIDEO_S}
        course = await admin.create(deps, scope, {"title": "基准测试课程", "credit_hours": 1, "units": [video]})
        await admin.set_status(deps, scope, course["id"], "publish")
        lv = live.live(deps)
        # The start endpoint's Redis step; the learners' clocks begin 15 s ago so the first beat counts.
        at = now_ms() - 15_000
        for i in range(0, len(tokens), 500):
            await asyncio.gather(*(lv.start(f"o_bench_{n:06d}", course["id"], "v1", at, None, VIDEO_S)
                                   for n in range(i, min(i + 500, len(tokens)))))  # fmt: skip
        return str(course["id"])
    finally:
        await close_deps(deps)


async def verify(redis_url: str, mongo_url: str, course: str, learners: int) -> dict[str, Any]:
    from services.learning import jobs, live

    deps = build_deps(settings(redis_url, mongo_url), redis_url=redis_url, mongo_url=mongo_url)
    try:
        lv = live.live(deps)
        pending = await lv.dirty_count()  # changed less than a minute ago: the service writes them later
        started = time.monotonic()
        await jobs.flush_all(deps)
        lag = time.monotonic() - started
        stored = {d["openid"]: d["cov"] async for d in deps.db.learning_progress.find({"course": course})}
        shown = {}
        for n in range(learners):
            state = await lv.get(f"o_bench_{n:06d}", course, "v1")
            if state is not None and state.covered_s:
                shown[f"o_bench_{n:06d}"] = state.covered_s
        return {"flush_lag_s": lag, "pending": pending, "stored": len(stored), "beaten": len(shown),
                "equal": stored == shown, "covered_s": sum(shown.values())}  # fmt: skip
    finally:
        await close_deps(deps)


def served(base: str) -> int:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    lines = [ln for ln in text.splitlines() if ln.startswith("sdgh_http_requests_total{") and "/heartbeat" in ln]
    return int(sum(float(ln.rsplit(" ", 1)[1]) for ln in lines if 'status="200"' in ln))


def run(ns: argparse.Namespace) -> int:
    wrk_bin = ensure_wrk()
    data = Path(tempfile.mkdtemp(prefix="bench-learning-"))
    embedded, redis_url, mongo_url = start_databases(data, ns.redis_url, ns.mongo_url)
    port, fake_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    proc = None
    try:
        proc = start_service(port, fake_port, redis_url, mongo_url, data)
        wait_http(f"{base}/healthz")
        login_one(base, f"http://127.0.0.1:{fake_port}")
        tokens = asyncio.run(make_sessions(redis_url, mongo_url, ns.learners))
        (data / "tokens.txt").write_text("\n".join(tokens) + "\n")
        course = asyncio.run(prepare(redis_url, mongo_url, tokens))
        path = f"/api/mp/learning/courses/{course}/units/v1/heartbeat"
        service = psutil.Process(proc.pid)
        others = {"redis": [s.process.pid for s in embedded[:1] if not ns.redis_url],
                  "mongo": [s.process.pid for s in embedded[-1:] if not ns.mongo_url]}  # fmt: skip
        others_before = {k: cpu_seconds(v) for k, v in others.items()}
        wrk_before, cpu_before, served_before = children_cpu(), service.cpu_times(), served(base)
        script, tokens_file = str(ROOT / "bench" / "learning.lua"), str(data / "tokens.txt")
        cmd = [wrk_bin, f"-t{ns.threads}", f"-c{ns.connections}", f"-d{ns.seconds}s", "--timeout", "5s", "--latency",
               "-s", script, base, "--", path, tokens_file, str(ns.rate)]  # fmt: skip
        r = run_wrk(cmd, ns.threads)
        wrk_cpu = children_cpu() - wrk_before
        time.sleep(1)
        cpu_after, n = service.cpu_times(), max(1, served(base) - served_before)
        cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        r["cpu_us"] = cpu / n * 1e6
        r["cpu_share"] = cpu / r["seconds"]
        r["others_us"] = {k: (cpu_seconds(v) - others_before[k]) / n * 1e6 for k, v in others.items() if v}
        r["others_us"]["wrk"] = wrk_cpu / n * 1e6
        r["served"] = n
        check = asyncio.run(verify(redis_url, mongo_url, course, ns.learners))
    finally:
        if proc is not None:
            stop(proc)
        for server in reversed(embedded):
            server.stop()
        shutil.rmtree(data, ignore_errors=True)
    return report(ns, r, check)


def report(ns: argparse.Namespace, r: dict[str, Any], check: dict[str, Any]) -> int:
    print(f"\nheartbeat benchmark: one service process, {ns.learners} learners, "
          f"wrk -t{ns.threads} -c{ns.connections} -d{ns.seconds}s paced to ~{ns.rate}/s, "
          f"{os.cpu_count()} cores shared with wrk and the databases\n")  # fmt: skip
    print(f"{'metric':<38} {'value':>14}   target")
    rows = [
        ("heartbeats/s answered 200", f"{r['ok'] / r['seconds']:.0f}", "~700"),
        ("latency p50 (ms)", f"{r['p50_ms']:.1f}", ""),
        ("latency p90 (ms)", f"{r['p90_ms']:.1f}", ""),
        ("latency p99 (ms)", f"{r['p99_ms']:.1f}", "< 100"),
        ("latency max (ms)", f"{r['max_ms']:.1f}", ""),
        ("errors (socket, other status)", f"{int(r['errors'])} / {int(r['other'])}", "0 / 0"),
        ("service CPU per heartbeat (us)", f"{r['cpu_us']:.0f}", ""),
        ("service CPU busy (of one core)", f"{r['cpu_share']:.0%}", ""),
        ("heartbeats per service CPU-second", f"{1e6 / r['cpu_us']:.0f}", "capacity of one free core"),
        ("CPU per heartbeat elsewhere (us)", " / ".join(f"{k} {v:.0f}" for k, v in r["others_us"].items()), ""),
        ("learners with counted progress", f"{check['beaten']}", f"<= {ns.learners}"),
        ("progress documents in MongoDB", f"{check['stored']}", "= learners with progress"),
        ("MongoDB coverage = Redis coverage", "yes" if check["equal"] else "NO", "yes"),
        ("seconds credited in total", f"{check['covered_s']}", f"<= 15 x {r['served']} heartbeats"),
        ("progress not yet in MongoDB at the end", f"{check['pending']}", "written within ~60 s"),
        ("draining those (s)", f"{check['flush_lag_s']:.2f}", ""),
    ]
    for name, value, target in rows:
        print(f"{name:<38} {value:>14}   {target}")
    exact = check["equal"] and check["stored"] == check["beaten"] and check["covered_s"] <= 15 * r["served"]
    print("\nprogress exact" if exact else "\nPROGRESS DIFFERS")
    return 1 if (r["errors"] or r["other"] or not exact) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=700)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=72)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--redis-url", default="", help="use this Redis instead of an embedded one")
    parser.add_argument("--mongo-url", default="", help="use this MongoDB instead of an embedded one")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
