"""Self-healing: a dead embedded Redis is restarted by the service itself, quietly, and a killed service
comes back fast, taking over what its dead predecessor held."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.support.service import ServiceProcess


def health(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except OSError:
        return 0, {}


def redis_child(svc: ServiceProcess) -> psutil.Process | None:
    for p in svc.descendants():
        try:
            if "redis-server" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                return p
        except psutil.NoSuchProcess:
            continue
    return None


def logged_at(line: str) -> float:
    """The epoch time of a log line ("2026-12-06 09:32:34,908 ...", local time)."""
    try:
        return time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + int(line[20:23]) / 1000
    except ValueError:
        return 0.0  # a continuation line


def log_lines(svc: ServiceProcess, start: int) -> list[str]:
    return svc.log_path.read_text(errors="replace")[start:].splitlines()


@pytest.mark.timeout(120)
async def test_killed_redis_is_restarted_health_green_and_the_outage_is_quiet(tmp_path: Path) -> None:
    svc = ServiceProcess(tmp_path, **{"wechat.api_base": "http://127.0.0.1:9"})
    await asyncio.to_thread(svc.start)
    try:
        first = redis_child(svc)
        assert first is not None
        mark = svc.log_path.stat().st_size  # counted from the first failure on
        os.kill(first.pid, signal.SIGKILL)  # Redis dies once: the service brings it back by itself
        killed_at = time.monotonic()
        code = 0
        while time.monotonic() - killed_at < 10 and code != 200:
            await asyncio.sleep(0.1)
            code, _ = await asyncio.to_thread(health, svc.url)
        assert code == 200, svc.log()
        green_after = time.monotonic() - killed_at
        assert not psutil.pid_exists(first.pid) or psutil.Process(first.pid).status() != psutil.STATUS_ZOMBIE

        # A longer outage: kill every Redis the supervisor brings back for 6 s, while a client keeps calling.
        started = time.monotonic()
        killed: set[int] = set()
        statuses: list[int] = []
        while time.monotonic() - started < 6:
            child = redis_child(svc)
            if child is not None and child.pid not in killed:
                os.kill(child.pid, signal.SIGKILL)
                killed.add(child.pid)
            statuses.append((await asyncio.to_thread(health, svc.url))[0])
            await asyncio.sleep(0.1)
        late_from = time.time() - 3
        outage_lines = log_lines(svc, mark)
        code = 0
        while time.monotonic() - started < 30 and code != 200:  # back again once the killing stops
            await asyncio.sleep(0.2)
            code, _ = await asyncio.to_thread(health, svc.url)
        assert code == 200, svc.log()
        assert svc.proc is not None and svc.proc.poll() is None  # the same service process throughout
        assert 503 in statuses and len(killed) >= 2
        text = "\n".join(outage_lines)
        assert not any("Traceback" in line for line in log_lines(svc, mark)), text
        # The first seconds say what broke (one line per loop, per route, per Redis death); after that the
        # rate must stay low enough that 30 s of outage writes fewer than 50 lines.
        late = [line for line in outage_lines if logged_at(line) >= late_from]
        per_second = len(late) / 3
        print(f"Redis green {green_after:.1f}s after a kill; outage: {len(outage_lines)} lines in all, "  # noqa: T201
              f"{per_second:.2f}/s in its last 3 s")  # fmt: skip
        assert len(outage_lines) + per_second * 24 < 50, text
    finally:
        await asyncio.to_thread(svc.terminate)
