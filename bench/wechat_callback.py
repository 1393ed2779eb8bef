"""Benchmark of /wechat: safe-mode text messages through the full path, beside a bare ceiling and WeRoBot.

    .venv/bin/python bench/wechat_callback.py [--seconds 6] [--connections 64] [--threads 1] [--rounds 3]

One command: starts embedded Redis and MongoDB-wire servers, our service (one process, then two
on one port via SO_REUSEPORT), a bare Tornado handler and WeRoBot (gunicorn, one sync worker; and
WeRoBot's own Tornado adapter), and drives each with wrk (Debian package) replaying pre-signed,
pre-encrypted requests, every one a new message (fresh MsgId and nonce: our dedupe and replay
check see real traffic, never a cached answer). Every server is measured `--rounds` times in
round-robin order and the table shows medians: this machine's speed drifts by ±15 % within
minutes (other tenants), which a single pass attributes to whichever server ran at the time.
Before each measured run a one-second pass reads every answer (status 200 and an encrypted reply:
the "checked" column); the measured run leaves answers to wrk's C code, which counts HTTP errors
itself, so the load generator takes ~10 µs less CPU per request from the cores it shares with the
servers. Prints a table; exits non-zero if any request failed or any checked answer was wrong.

Our path per message: signature, time window, decrypt, parse, Redis claim (replay + dedupe +
follower), keyword rules, jinja2 reply, render, encrypt, sign, Redis store of the reply.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import children_cpu, cpu_seconds, free_port, run_wrk  # noqa: E402
from bench.wechat_requests import write_requests  # noqa: E402
from core.embedded import start_mongo, start_redis  # noqa: E402

PY = sys.executable
TOKEN, APP_ID = "demo-callback-token", "wxdemo0000000oa"
AES_KEY = "Mg07ILBZw2Jjxrzew1UcCaqrI559N3rxGSWq5L3Ozic"


def wait_http(url: str, timeout: float = 30.0, method: str = "GET") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
            urllib.request.urlopen(req, timeout=1)  # noqa: S310 - loopback
            return
        except urllib.error.HTTPError:
            return  # it answers (403 without a signature is fine)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def wrk(url: str, pool: Path, seconds: float, connections: int, threads: int, check: bool = False) -> dict[str, float]:
    """One wrk run; `check` also reads every answer (200 and encrypted), at a cost to wrk's CPU."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "5s",
           "-s", str(ROOT / "bench" / "wechat.lua"), url, "--", str(pool)]  # fmt: skip
    result = run_wrk(cmd, threads, {"WRK_CHECK": "1" if check else "0"})
    result["rps"] = result["requests"] / result["seconds"]
    return result


def measure(url: str, pool: Path, ns: argparse.Namespace, pids: list[int], db_pids: list[int] = []) -> dict[str, float]:  # noqa: B006
    """wrk's figures plus CPU per request: the servers' (with the databases they use: Redis, then
    MongoDB), and wrk's own (it shares the cores)."""
    before, wrk_before = cpu_seconds(pids), children_cpu()
    db_before = [cpu_seconds([pid]) for pid in db_pids]
    result = wrk(url, pool, ns.seconds, ns.connections, ns.threads)
    wrk_cpu = children_cpu() - wrk_before
    n = max(result["requests"], 1)
    db_us = [(cpu_seconds([pid]) - b) / n * 1e6 for pid, b in zip(db_pids, db_before, strict=True)]
    result["svc_us"] = (cpu_seconds(pids) - before) / n * 1e6
    result["cpu_us"] = result["svc_us"] + sum(db_us)
    result["redis_us"], result["mongo_us"] = (db_us + [0.0, 0.0])[:2]
    result["wrk_us"] = wrk_cpu / n * 1e6
    return result


def our_service(port: int, workers: int, redis_url: str, mongo_url: str, data: Path) -> subprocess.Popen[bytes]:
    env = {
        "SDGH_SERVER_PORT": str(port), "SDGH_SERVER_WORKERS": str(workers), "SDGH_REDIS_URL": redis_url,
        "SDGH_MONGO_URL": mongo_url, "SDGH_MONGO_DB": "bench", "SDGH_DEMO_FAKE_WECHAT": "false",
        "SDGH_LOG_LEVEL": "WARNING", "SDGH_DATA_DIR": str(data), "SDGH_WECHAT_TOKEN": TOKEN,
        "SDGH_WECHAT_APP_ID": APP_ID, "SDGH_WECHAT_ENCODING_AES_KEY": AES_KEY,
    }  # fmt: skip
    return start([PY, "app.py", "--config", "config.yaml"], env)


def verified(checked: dict[str, float]) -> dict[str, float]:
    """The warm-up pass read every answer: how many were encrypted replies, how many were not."""
    return {"replied": checked["replied"], "unreplied": checked["requests"] - checked["replied"]}


ONE, TWO = "ours, 1 process (full path)", "ours, 2 processes (full path)"
BARE, GUNI, TOR = "bare Tornado (ceiling)", "WeRoBot, gunicorn 1 worker", "WeRoBot, its Tornado adapter"


def run(ns: argparse.Namespace) -> int:
    if not shutil.which("wrk"):
        sys.stderr.write("wrk is missing: apt-get install wrk\n")
        return 2
    data = Path(tempfile.mkdtemp(prefix="bench-wechat-"))
    redis_srv = asyncio.run(start_redis(data))
    mongo_srv = asyncio.run(start_mongo(data))
    pool, warm = data / "requests.tsv", data / "warm-up.tsv"
    rounds: list[dict[str, dict[str, float]]] = []
    series = 10
    try:
        n = int(ns.seconds * ns.max_rps) + 2000
        reply = write_requests(pool, n, TOKEN, APP_ID, AES_KEY, series=1)
        peers = [
            (BARE, [PY, "bench/wechat_peers.py", "bare", "--port", "{port}"], {}),
            (GUNI, [str(Path(PY).with_name("gunicorn")), "-w", "1", "-b",
             "127.0.0.1:{port}", "--log-level", "warning", "bench.wechat_peers:werobot_wsgi"],
             {"BENCH_WEROBOT_WSGI": "1"}),
            (TOR, [PY, "bench/wechat_peers.py", "werobot-tornado", "--port", "{port}"], {}),
        ]  # fmt: skip
        # Round-robin: a machine that slows down mid-run (other tenants) shifts every row alike.
        for r in range(ns.rounds):
            rows: dict[str, dict[str, float]] = {}
            for name, cmd, env in peers if not ns.ours_only else ():
                port = free_port()
                write_requests(pool, n, TOKEN, APP_ID, AES_KEY, series=1)  # the peers keep no state
                proc = start([c.replace("{port}", str(port)) for c in cmd], {"BENCH_REPLY": reply, **env})
                try:
                    wait_http(f"http://127.0.0.1:{port}/wechat", method="POST")
                    checked = wrk(f"http://127.0.0.1:{port}", pool, 1, ns.connections, ns.threads, check=True)
                    rows[name] = measure(f"http://127.0.0.1:{port}", pool, ns, [proc.pid]) | verified(checked)
                finally:
                    stop(proc)
            for workers in (1, 2):
                port = free_port()
                proc = our_service(port, workers, redis_srv.url, mongo_srv.url, data)
                try:
                    wait_http(f"http://127.0.0.1:{port}/healthz")
                    time.sleep(0.5 * workers)  # let a spawned worker bind too
                    base = f"http://127.0.0.1:{port}"
                    # Fresh messages for every run (and timestamps well inside the 5-minute window).
                    write_requests(warm, 3000 + int(ns.max_rps), TOKEN, APP_ID, AES_KEY, series=series)
                    write_requests(pool, n, TOKEN, APP_ID, AES_KEY, series=series + 1)
                    series += 2
                    checked = wrk(base, warm, 1, ns.connections, ns.threads, check=True)  # warm-up, verified
                    # Our CPU includes Redis's and MongoDB's: dedupe, replay check and follower
                    # bookkeeping are part of our path.
                    dbs = [redis_srv.process.pid, mongo_srv.process.pid]
                    spy = None
                    if ns.profile and workers == 1 and r == 0:  # py-spy (not a dependency) samples round 1
                        cmd = [ns.py_spy, "record", "-p", str(proc.pid), "-o", ns.profile, "--format", "raw",
                               "-d", str(ns.seconds), "--nonblocking", "--rate", "500"]  # fmt: skip
                        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    rows[TWO if workers > 1 else ONE] = measure(base, pool, ns, [proc.pid], dbs) | verified(checked)
                    if spy is not None:
                        spy.wait(30)
                finally:
                    stop(proc)
            rounds.append(rows)
            if ns.rounds > 1:
                print(f"round {r + 1}: " + ", ".join(f"{k.split(' (')[0]} {v['rps']:.0f}/s" for k, v in rows.items()))
    finally:
        redis_srv.stop()
        mongo_srv.stop()
        shutil.rmtree(data, ignore_errors=True)
    return report(rounds, ns)


def median_rows(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    names = list(rounds[0])
    return {name: {k: statistics.median(r[name][k] for r in rounds) for k in rounds[0][name]} for name in names}


def report(rounds: list[dict[str, dict[str, float]]], ns: argparse.Namespace) -> int:
    rows = median_rows(rounds)
    what = f"median of {len(rounds)} rounds" if len(rounds) > 1 else "one round"
    print(f"\n/wechat benchmark: safe-mode text messages, wrk -t{ns.threads} -c{ns.connections} -d{ns.seconds}s, "
          f"{os.cpu_count()} cores, {what} (figures are only comparable within one run)\n")  # fmt: skip
    print(f"{'server':<36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>11} {'wrk µs/req':>11} "
          f"{'errors':>7} {'checked':>8}")  # fmt: skip
    failed = False
    for r in rounds:
        for v in r.values():
            failed |= v["errors"] + v["non200"] + v["unreplied"] > 0 or v["wrapped"] > 0
    for name, r in rows.items():
        errors = int(sum(rd[name]["errors"] + rd[name]["non200"] for rd in rounds))
        print(f"{name:<36} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['cpu_us']:>11.0f} "
              f"{r['wrk_us']:>11.0f} {errors:>7} {int(r['replied']):>8}")  # fmt: skip
    one, two, bare, guni, tor = (rows.get(k) for k in (ONE, TWO, BARE, GUNI, TOR))
    if one and bare and guni and tor:
        print("\nratios (targets):")
        print(f"  ours 1p / WeRoBot gunicorn  {one['rps'] / guni['rps']:.2f}x  (>= 1.3)")
        print(f"  ours 1p / WeRoBot Tornado   {one['rps'] / tor['rps']:.2f}x  (>= 1.0)")
        print(f"  ours 1p / bare Tornado      {one['rps'] / bare['rps']:.0%}   (>= 50%)")
        print(f"  ours 1p p99                 {one['p99_ms']:.1f} ms (< 30 ms at 64 connections)")
    if one and two:
        paired = [r[TWO]["rps"] / r[ONE]["rps"] for r in rounds]
        print(f"  ours 2p / ours 1p           {statistics.median(paired):.2f}x  (>= 1.6; per round: "
              f"{', '.join(f'{x:.2f}' for x in paired)})")  # fmt: skip
        # What 2 cores allow when wrk and the databases share them: one process fills one core (its
        # databases and wrk run on the other); two share both cores with everything a request costs.
        ceiling = 2 * one["svc_us"] / (two["cpu_us"] + two["wrk_us"])
        print(f"  2p ceiling on this machine  {ceiling:.2f}x  (2 cores / CPU per request incl. wrk, "
              f"over one process's core)")  # fmt: skip
        print(f"  ours 1p CPU µs/request      service {one['svc_us']:.0f}, Redis {one['redis_us']:.0f}, "
              f"MongoDB {one['mongo_us']:.0f}, wrk {one['wrk_us']:.0f}")  # fmt: skip
    if one and bare and guni and tor:
        print("\nCPU per request (servers; ours incl. Redis and MongoDB; steadier than req/s on a busy machine):")
        print(f"  WeRoBot gunicorn / ours 1p  {guni['cpu_us'] / one['cpu_us']:.2f}x")
        print(f"  WeRoBot Tornado / ours 1p   {tor['cpu_us'] / one['cpu_us']:.2f}x")
        print(f"  bare / ours 1p              {bare['cpu_us'] / one['cpu_us']:.0%}")
    for rd in rounds:
        for name, r in rd.items():
            if r["errors"] or r["non200"]:
                print(
                    f"\n{name}: errors connect {r['connect']:.0f}, read {r['read']:.0f}, write {r['write']:.0f}, "
                    f"timeout {r['timeout']:.0f}; non-200 {r['non200']:.0f} (last status {r['last_bad_status']:.0f})"
                )
    if failed:
        print(
            "\nNOTE: failed requests, answers without an encrypted reply in the checking pass, or the request "
            "pool ran out and was replayed (raise --max-rps)"
        )
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--connections", type=int, default=64)
    # One wrk thread: it drives >5,000 req/s from ~30 % of a core here, and a second thread only adds
    # a runnable thread competing with the servers for the same 2 cores.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="each server measured this many times, round-robin")
    parser.add_argument("--ours-only", action="store_true", help="skip the peers (quick before/after checks)")
    parser.add_argument("--profile", default="", help="write py-spy collapsed stacks of ours (1 process) here")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy binary (with --profile)")
    parser.add_argument("--max-rps", type=float, default=15000, help="sizes the pool of unique requests")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
