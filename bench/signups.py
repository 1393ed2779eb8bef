"""Benchmark of activity sign-ups: POST /api/mp/activities/<id>/signups through the whole service, one process.

    .venv/bin/python bench/signups.py [--seconds 10] [--connections 200] [--users 2000] [--sessions 20]
                                      [--capacity 300] [--redis-url URL --mongo-url URL]

One command: starts embedded Redis (AOF) and MongoDB-wire servers (or uses the given URLs), our service
(`app.py`, one process, with the fake WeChat platform), checks one real login, creates `--users` sessions
as the login stores them, creates a published activity through the editors' service API (`--sessions`
sessions of `--capacity` places, waitlist unlimited, one form field, each user may take every session),
and drives the sign-up endpoint with wrk at `--connections` concurrent connections: every request is a
new (user, session) pair, so places fill and the rest are waitlisted in arrival order. Then it waits for
the background flusher and checks in MongoDB, per session: confirmed = min(capacity, sign-ups) and
confirmed + waitlisted = the 201 answers the service sent; Redis agrees. Prints a table; exits non-zero
when a request failed or a count differs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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
sys.path.insert(0, str(ROOT / "bench"))

from ballots import ensure_wrk, free_port, login_one, stop, wait_http  # noqa: E402

from bench.harness import run_wrk, start_databases  # noqa: E402
from core.clock import now  # noqa: E402
from core.config import Settings, parse_settings  # noqa: E402
from core.deps import build_deps, close_deps  # noqa: E402

PY = sys.executable
DB = "bench_signups"


def settings(redis_url: str, mongo_url: str) -> Settings:
    raw = {
        "server": {"cookie_secret": "bench"},
        "wechat": {"app_id": "wxbench", "app_secret": "x", "token": "x"},
        "miniprogram": {"app_id": "wxbenchmp", "app_secret": "x"},
        "redis": {"url": redis_url},
        "mongo": {"url": mongo_url, "db": DB},
    }
    return parse_settings(raw, env={})


def start_fake(port: int) -> subprocess.Popen[bytes]:
    """The fake WeChat platform in its own process (so its CPU is not counted as the service's); every
    subscribe message is consented, so each sign-up's confirmation is really sent."""
    cmd = [PY, "-m", "tools.fake_wechat", "--port", str(port), "--no-limits", "--no-record", "--auto-consent"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def start_service(port: int, fake_port: int, redis_url: str, mongo_url: str, data: Path) -> subprocess.Popen[bytes]:
    fake = f"http://127.0.0.1:{fake_port}"
    env = {
        **os.environ,
        "SDGH_SERVER_PORT": str(port), "SDGH_SERVER_WORKERS": "1", "SDGH_REDIS_URL": redis_url,
        "SDGH_MONGO_URL": mongo_url, "SDGH_MONGO_DB": DB, "SDGH_DATA_DIR": str(data),
        "SDGH_DEMO_FAKE_WECHAT": "false", "SDGH_WECHAT_API_BASE": fake, "SDGH_MINIPROGRAM_API_BASE": fake,
        "SDGH_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    return subprocess.Popen([PY, "app.py", "--config", "config.yaml"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


async def make_sessions(redis_url: str, mongo_url: str, n: int, prefix: str) -> list[str]:
    """Sessions exactly as POST /api/mp/login stores them (login itself is rate-limited per IP)."""
    from services.members.sessions_live import SessionData, SessionStore

    deps = build_deps(settings(redis_url, mongo_url), redis_url=redis_url, mongo_url=mongo_url)
    try:
        store = SessionStore(deps.redis, deps.redis_pipe)
        return [await store.create(SessionData(f"{prefix}{i:06d}", "", "", "", ()), "bench-key") for i in range(n)]
    finally:
        await close_deps(deps)


async def create_activity(redis_url: str, mongo_url: str, sessions: int, capacity: int) -> str:
    from services.activities import definitions as activity_admin

    deps = build_deps(settings(redis_url, mongo_url), redis_url=redis_url, mongo_url=mongo_url)
    at = now()
    data = {
        "org": "370000", "title": "基准测试活动", "signup_deadline": at + timedelta(hours=1),
        "per_user_limit": sessions, "waitlist": {"enabled": True, "limit": None},
        "form": [{"id": "phone", "type": "text", "title": "手机号", "required": True, "format": "phone"}],
        "sessions": [
            {"id": f"s{i}", "capacity": capacity, "starts_at": at + timedelta(days=1, hours=i),
             "ends_at": at + timedelta(days=1, hours=i + 1)}
            for i in range(1, sessions + 1)
        ],
    }  # fmt: skip
    try:
        doc = await activity_admin.create_activity(deps, data, editor_org=None)
        await activity_admin.publish_activity(deps, doc["_id"], editor_org=None)
        return str(doc["_id"])
    finally:
        await close_deps(deps)


async def verify(redis_url: str, mongo_url: str, activity_id: str, sessions: int, capacity: int) -> dict[str, Any]:
    from services.activities import notify_live, signups
    from services.activities import signups_store as repo

    deps = build_deps(settings(redis_url, mongo_url), redis_url=redis_url, mongo_url=mongo_url)
    try:
        started = time.monotonic()
        st = signups.state(deps)
        for _ in range(2400):  # up to 2 minutes: the flusher, then the confirmations
            if not await st.dirty_count() and not await notify_live.waiting(deps.redis):
                break
            await asyncio.sleep(0.05)
        lag = time.monotonic() - started
        await asyncio.sleep(0.5)  # the last confirmations read from the stream are being sent
        stored: dict[str, dict[str, int]] = {}
        async for d in deps.db.signups.find({"activity_id": activity_id}, {"session_id": 1, "status": 1}):
            per = stored.setdefault(d["session_id"], {})
            per[d["status"]] = per.get(d["status"], 0) + 1
        live = await st.session_numbers(activity_id, [f"s{i}" for i in range(1, sessions + 1)])
        rules_hold = all(
            per.get("confirmed", 0) == min(capacity, per.get("confirmed", 0) + per.get("waitlisted", 0))
            for per in stored.values()
        )
        redis_agrees = all(
            live[sid] == (per.get("confirmed", 0), per.get("waitlisted", 0)) for sid, per in stored.items()
        )
        totals = await repo.count_by_status(deps.db, activity_id)
        all_confirmed = await deps.db.signups.count_documents({"status": "confirmed"})  # with the warm-up's
        return {
            "flush_lag_s": lag, "totals": totals, "rules_hold": rules_hold, "redis_agrees": redis_agrees,
            "all_confirmed": all_confirmed,
        }  # fmt: skip
    finally:
        await close_deps(deps)


def served_201(base: str) -> int:
    """Sign-ups the service answered 201, from its own /metrics (wrk misses answers in flight at its end)."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("sdgh_http_requests_total{") and "/signups" in line and 'status="201"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def wrk(wrk_bin: str, base: str, path: str, tokens: Path, seconds: int, ns: argparse.Namespace) -> dict[str, float]:
    cmd = [wrk_bin, f"-t{ns.threads}", f"-c{ns.connections}", f"-d{seconds}s", "--timeout", "5s", "--latency",
           "-s", str(ROOT / "bench" / "signups.lua"), base, "--", path, str(tokens), str(ns.sessions)]  # fmt: skip
    result = run_wrk(cmd, ns.threads)
    result["per_s"] = result["created"] / result["seconds"]
    return result


def run(ns: argparse.Namespace) -> int:
    wrk_bin = ensure_wrk()
    data = Path(tempfile.mkdtemp(prefix="bench-signups-"))
    embedded, redis_url, mongo_url = start_databases(data, ns.redis_url, ns.mongo_url)
    port, fake_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    proc = fake = None
    try:
        fake = start_fake(fake_port)
        wait_http(f"http://127.0.0.1:{fake_port}/_fake/state")
        proc = start_service(port, fake_port, redis_url, mongo_url, data)
        wait_http(f"{base}/healthz")
        login_one(base, f"http://127.0.0.1:{fake_port}")
        warm, tokens = data / "warm.txt", data / "tokens.txt"
        warm.write_text("\n".join(asyncio.run(make_sessions(redis_url, mongo_url, 500, "o_warm_"))) + "\n")
        tokens.write_text("\n".join(asyncio.run(make_sessions(redis_url, mongo_url, ns.users, "o_bench_"))) + "\n")
        warm_id = asyncio.run(create_activity(redis_url, mongo_url, ns.sessions, ns.capacity))
        activity_id = asyncio.run(create_activity(redis_url, mongo_url, ns.sessions, ns.capacity))
        wrk(wrk_bin, base, f"/api/mp/activities/{warm_id}/signups", warm, 2, ns)  # warm-up, other users
        time.sleep(1)  # let the warm-up's answers in flight be counted before the baseline
        service = psutil.Process(proc.pid)
        spy = None
        if ns.profile:  # py-spy (not a dependency) samples the service during the measured run
            cmd = [ns.py_spy, "record", "-p", str(proc.pid), "-o", ns.profile, "--format", "raw", "-d", str(ns.seconds)]
            spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu_before, before = service.cpu_times(), served_201(base)
        result = wrk(wrk_bin, base, f"/api/mp/activities/{activity_id}/signups", tokens, ns.seconds, ns)
        time.sleep(1)  # answers in flight when wrk stopped are still being sent
        cpu_after, accepted = service.cpu_times(), served_201(base) - before
        cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        result["cpu_us"] = cpu / max(1, accepted) * 1e6
        result["cpu_share"] = cpu / result["seconds"]
        if spy is not None:
            spy.wait(60)
        check = asyncio.run(verify(redis_url, mongo_url, activity_id, ns.sessions, ns.capacity))
        check["accepted"] = accepted
        with urllib.request.urlopen(f"http://127.0.0.1:{fake_port}/_fake/deliveries?kind=subscribe") as resp:  # noqa: S310
            check["confirmations"] = json.loads(resp.read())["total"]
    finally:
        for child in (proc, fake):
            if child is not None:
                stop(child)
        for server in reversed(embedded):
            server.stop()
        shutil.rmtree(data, ignore_errors=True)
    return report(ns, result, check)


def report(ns: argparse.Namespace, r: dict[str, float], check: dict[str, Any]) -> int:
    print(f"\nsign-up benchmark: one service process, wrk -t{ns.threads} -c{ns.connections} -d{ns.seconds}s, "
          f"{ns.users} users x {ns.sessions} sessions of {ns.capacity} places, "
          f"{os.cpu_count()} cores shared with the load generator and the databases\n")  # fmt: skip
    totals = check["totals"]
    stored = totals.get("confirmed", 0) + totals.get("waitlisted", 0)
    rows = [
        ("sign-ups/s accepted (201)", f"{r['per_s']:.0f}", ""),
        ("latency p50 (ms)", f"{r['p50_ms']:.1f}", ""),
        ("latency p90 (ms)", f"{r['p90_ms']:.1f}", ""),
        ("latency p99 (ms)", f"{r['p99_ms']:.1f}", "< 100"),
        ("latency max (ms)", f"{r['max_ms']:.1f}", ""),
        ("repeated 200 / refused 409+429", f"{int(r['repeated'])} / {int(r['refused'])}", "0 / 0"),
        ("errors (socket, other status)", f"{int(r['errors'])} / {int(r['other'])}", "0 / 0"),
        ("service CPU per sign-up (us)", f"{r['cpu_us']:.0f}", ""),
        ("service CPU busy (of one core)", f"{r['cpu_share']:.0%}", ""),
        ("sign-ups per service CPU-second", f"{1e6 / r['cpu_us']:.0f}", "capacity of one free core"),
        ("201 answers sent (service /metrics)", f"{check['accepted']}", ""),
        ("confirmed in MongoDB", f"{totals.get('confirmed', 0)}", f"<= {ns.sessions * ns.capacity}"),
        ("waitlisted in MongoDB", f"{totals.get('waitlisted', 0)}", ""),
        ("confirmed + waitlisted", f"{stored}", "= 201 answers"),
        ("per session: confirmed = min(cap, n)", "yes" if check["rules_hold"] else "NO", "yes"),
        ("Redis counts = MongoDB counts", "yes" if check["redis_agrees"] else "NO", "yes"),
        ("confirmations sent (fake WeChat)", f"{check['confirmations']}", f"= {check['all_confirmed']} confirmed"),
        ("flush + confirmations lag after (s)", f"{check['flush_lag_s']:.2f}", ""),
    ]
    print(f"{'metric':<38} {'value':>12}   target")
    for name, value, target in rows:
        print(f"{name:<38} {value:>12}   {target}")
    exact = stored == check["accepted"] and check["rules_hold"] and check["redis_agrees"]
    print("\ncounts exact" if exact else "\nCOUNTS DIFFER")
    return 1 if (r["errors"] or r["other"] or not exact) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--capacity", type=int, default=300)
    parser.add_argument("--profile", default="", help="write py-spy collapsed stacks of the service here")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy binary (with --profile)")
    parser.add_argument("--redis-url", default="", help="use this Redis instead of an embedded one")
    parser.add_argument("--mongo-url", default="", help="use this MongoDB instead of an embedded one")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
