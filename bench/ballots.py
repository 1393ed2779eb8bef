"""Benchmark of casting ballots: POST /api/mp/polls/<id>/ballots through the whole service, one process.

    .venv/bin/python bench/ballots.py [--seconds 10] [--connections 200] [--users 2000]
                                      [--redis-url URL --mongo-url URL]

One command: starts embedded Redis and MongoDB-wire servers (or uses the given URLs), our service
(`app.py`, one process, with the fake WeChat platform for the logins), logs in `--users` users through
the real login, creates a poll through the editors' service API, and drives the ballot endpoint with wrk
(a C load generator, installed with apt-get when missing) at `--connections` concurrent connections.
Then it waits for the background flusher and checks that the ballots stored in MongoDB equal the
displayed counts in Redis and the number of 201 answers, per option. Prints a table; exits non-zero
when a request failed or a count differs.

Each ballot is the full path: bearer session lookup (Redis), JSON body checked against the schema, one
Lua script (visibility, window, options, per-user limit, anti-brushing windows, counters, stream), and
the 201 answer; the flusher writes MongoDB in batches meanwhile.
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
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import children_cpu, cpu_seconds, free_port, run_wrk, start_databases  # noqa: E402
from core.clock import now  # noqa: E402
from core.config import parse_settings  # noqa: E402
from core.deps import build_deps, close_deps  # noqa: E402

PY = sys.executable
DB = "bench_ballots"
OPTIONS = 8


def ensure_wrk() -> str:
    if not shutil.which("wrk"):
        print("wrk is missing: installing it with apt-get", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True)
    return str(shutil.which("wrk"))


def post_json(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
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


def start_service(port: int, fake_port: int, redis_url: str, mongo_url: str, data: Path) -> subprocess.Popen[bytes]:
    fake = f"http://127.0.0.1:{fake_port}"
    env = {
        **os.environ,
        "SDGH_SERVER_PORT": str(port), "SDGH_SERVER_WORKERS": "1", "SDGH_REDIS_URL": redis_url,
        "SDGH_MONGO_URL": mongo_url, "SDGH_MONGO_DB": DB, "SDGH_DATA_DIR": str(data),
        "SDGH_DEMO_FAKE_WECHAT": "true", "SDGH_DEMO_FAKE_WECHAT_PORT": str(fake_port),
        "SDGH_WECHAT_API_BASE": fake, "SDGH_MINIPROGRAM_API_BASE": fake, "SDGH_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    return subprocess.Popen([PY, "app.py", "--config", "config.yaml"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


async def make_sessions(redis_url: str, mongo_url: str, n: int) -> list[str]:
    """Sessions exactly as POST /api/mp/login stores them (login itself is rate-limited per IP)."""
    from services.members.sessions_live import SessionData, SessionStore

    deps = build_deps(settings(redis_url, mongo_url), redis_url=redis_url, mongo_url=mongo_url)
    try:
        store = SessionStore(deps.redis, deps.redis_pipe)
        tokens = [await store.create(SessionData(f"o_bench_{i:06d}", "", "", "", ()), "bench-key") for i in range(n)]
    finally:
        await close_deps(deps)
    return tokens


def login_one(base: str, fake: str) -> None:
    """One real login through the fake WeChat platform, to be sure the service is wired end to end."""
    code = post_json(f"{fake}/_fake/js_code", {"openid": "o_bench_login"})["code"]
    token = post_json(f"{base}/api/mp/login", {"code": code})["token"]
    req = urllib.request.Request(f"{base}/api/mp/me", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
        assert resp.status == 200


def settings(redis_url: str, mongo_url: str) -> Any:
    raw = {
        "server": {"cookie_secret": "bench"},
        "wechat": {"app_id": "wxbench", "app_secret": "x", "token": "x"},
        "miniprogram": {"app_id": "wxbenchmp", "app_secret": "x"},
        "redis": {"url": redis_url},
        "mongo": {"url": mongo_url, "db": DB},
    }
    return parse_settings(raw, env={})


async def create_poll(redis_url: str, mongo_url: str) -> str:
    from services.polls import definitions as polls

    deps = build_deps(settings(redis_url, mongo_url), redis_url=redis_url, mongo_url=mongo_url)
    try:
        poll = await polls.create(deps, "370000", {
            "title": "基准测试投票", "options": [{"title": f"选项{i}"} for i in range(1, OPTIONS + 1)],
            "opens_at": now() - timedelta(minutes=1), "closes_at": now() + timedelta(hours=2), "publish": True,
            "limit": {"per": "day", "count": 100},
            # Anti-brushing stays on (its Lua path is measured) with ceilings a loopback bench stays under.
            "anti_brush": {"user_per_minute": 100_000, "ip_per_minute": 10_000_000},
        })  # fmt: skip
        return str(poll["_id"])
    finally:
        await close_deps(deps)


async def verify(redis_url: str, mongo_url: str, poll_id: str, created: int) -> dict[str, Any]:
    from services.polls import ballots_store as ballots
    from services.polls import definitions as polls

    deps = build_deps(settings(redis_url, mongo_url), redis_url=redis_url, mongo_url=mongo_url)
    try:
        started = time.monotonic()
        for _ in range(2400):  # up to 2 minutes
            if not await ballots.pending_count(deps.redis):
                break
            await asyncio.sleep(0.05)
        flush_lag = time.monotonic() - started
        live = await polls.live(deps).counts(poll_id) or {}
        stored = await ballots.option_counts(deps.db, poll_id)
        live_opts = {k: v for k, v in live.items() if not k.startswith("_")}
        return {
            "flush_lag_s": flush_lag,
            "stored": await ballots.count(deps.db, poll_id),
            "displayed": live.get("_ballots", -1),
            "created": created,
            "per_option_equal": {k: v for k, v in live_opts.items() if v} == stored,
        }
    finally:
        await close_deps(deps)


def served_201(base: str) -> int:
    """Ballots the service answered 201, from its own /metrics (wrk misses answers in flight at its end)."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("sdgh_http_requests_total{") and "/ballots" in line and 'status="201"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def wrk(
    wrk_bin: str, base: str, path: str, tokens: Path, seconds: int, connections: int, threads: int
) -> dict[str, float]:
    cmd = [wrk_bin, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency",
           "-s", str(ROOT / "bench" / "ballots.lua"), base, "--", path, str(tokens), str(OPTIONS),
           f"r{time.time_ns() % 10**12:x}"]  # fmt: skip
    result = run_wrk(cmd, threads)
    result["rps"] = result["requests"] / result["seconds"]
    result["ballots_per_s"] = result["created"] / result["seconds"]
    return result


def run(ns: argparse.Namespace) -> int:
    wrk_bin = ensure_wrk()
    data = Path(tempfile.mkdtemp(prefix="bench-ballots-"))
    embedded, redis_url, mongo_url = start_databases(data, ns.redis_url, ns.mongo_url)
    port, fake_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    proc = None
    try:
        proc = start_service(port, fake_port, redis_url, mongo_url, data)
        wait_http(f"{base}/healthz")
        tokens = data / "tokens.txt"
        login_one(base, f"http://127.0.0.1:{fake_port}")
        tokens.write_text("\n".join(asyncio.run(make_sessions(redis_url, mongo_url, ns.users))) + "\n")
        poll_id = asyncio.run(create_poll(redis_url, mongo_url))
        path = f"/api/mp/polls/{poll_id}/ballots"
        wrk(wrk_bin, base, path, tokens, 2, ns.connections, ns.threads)  # warm-up
        service = psutil.Process(proc.pid)
        spy = None
        if ns.profile:  # py-spy (not a dependency) samples the service during the measured run
            cmd = [ns.py_spy, "record", "-p", str(proc.pid), "-o", ns.profile, "--format", "raw", "-d", str(ns.seconds)]
            spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        others = {"redis": [s.process.pid for s in embedded[:1] if not ns.redis_url],
                  "mongo": [s.process.pid for s in embedded[-1:] if not ns.mongo_url]}  # fmt: skip
        others_before = {k: cpu_seconds(v) for k, v in others.items()}
        wrk_before = children_cpu()
        cpu_before, accepted_before = service.cpu_times(), served_201(base)
        result = wrk(wrk_bin, base, path, tokens, ns.seconds, ns.connections, ns.threads)
        wrk_cpu = children_cpu() - wrk_before
        time.sleep(1)  # answers in flight when wrk stopped are still being sent
        if spy is not None:
            spy.wait(60)
        cpu_after, accepted = service.cpu_times(), served_201(base)
        cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        n = max(1, accepted - accepted_before)
        result["cpu_us_per_ballot"] = cpu / n * 1e6
        result["others_us"] = {k: (cpu_seconds(v) - others_before[k]) / n * 1e6 for k, v in others.items() if v}
        result["others_us"]["wrk"] = wrk_cpu / n * 1e6
        result["cpu_share"] = cpu / result["seconds"]
        check = asyncio.run(verify(redis_url, mongo_url, poll_id, accepted))
    finally:
        if proc is not None:
            stop(proc)
        for server in reversed(embedded):
            server.stop()
        shutil.rmtree(data, ignore_errors=True)
    return report(ns, result, check)


def report(ns: argparse.Namespace, r: dict[str, float], check: dict[str, Any]) -> int:
    print(f"\nballot benchmark: one service process, wrk -t{ns.threads} -c{ns.connections} -d{ns.seconds}s, "
          f"{ns.users} users, {os.cpu_count()} cores shared with the load generator and the databases\n")  # fmt: skip
    print(f"{'metric':<34} {'value':>12}   target")
    rows = [
        ("ballots/s accepted (201)", f"{r['ballots_per_s']:.0f}", ">= 2,500"),
        ("requests/s", f"{r['rps']:.0f}", ""),
        ("latency p50 (ms)", f"{r['p50_ms']:.1f}", ""),
        ("latency p90 (ms)", f"{r['p90_ms']:.1f}", ""),
        ("latency p99 (ms)", f"{r['p99_ms']:.1f}", "< 100"),
        ("latency max (ms)", f"{r['max_ms']:.1f}", ""),
        ("refused: limit 409 / rate 429", f"{int(r['limited'])} / {int(r['throttled'])}", "0 / 0"),
        ("errors (socket, other status)", f"{int(r['errors'])} / {int(r['other'])}", "0 / 0"),
        ("service CPU per ballot (us)", f"{r['cpu_us_per_ballot']:.0f}", ""),
        ("service CPU busy (of one core)", f"{r['cpu_share']:.0%}", ""),
        ("ballots per service CPU-second", f"{1e6 / r['cpu_us_per_ballot']:.0f}", "capacity of one free core"),
        ("CPU per ballot elsewhere (us)", " / ".join(f"{k} {v:.0f}" for k, v in r["others_us"].items()), ""),
        ("201 answers sent (service /metrics)", f"{check['created']}", ""),
        ("ballots stored in MongoDB", f"{check['stored']}", "= 201 answers"),
        ("ballots displayed (Redis)", f"{check['displayed']}", "= stored"),
        ("per-option counts equal", "yes" if check["per_option_equal"] else "NO", "yes"),
        ("flusher lag after the run (s)", f"{check['flush_lag_s']:.2f}", ""),
    ]
    for name, value, target in rows:
        print(f"{name:<34} {value:>12}   {target}")
    exact = check["stored"] == check["displayed"] == check["created"] and check["per_option_equal"]
    failed = r["errors"] or r["other"] or not exact
    print("\ncounts exact" if exact else "\nCOUNTS DIFFER")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--profile", default="", help="write py-spy collapsed stacks of the service here")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy binary (with --profile)")
    parser.add_argument("--redis-url", default="", help="use this Redis instead of an embedded one")
    parser.add_argument("--mongo-url", default="", help="use this MongoDB instead of an embedded one")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
