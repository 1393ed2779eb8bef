"""What every benchmark needs: a free loopback port, the databases, wrk runs and CPU accounting."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import subprocess
from pathlib import Path

import psutil

from core.embedded import EmbeddedServer, start_mongo, start_redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and all their children (gunicorn's worker, our --worker)."""
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def children_cpu() -> float:
    """CPU of this process's finished children so far (wrk runs as one: its cost shares the cores)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def start_databases(data: Path, redis_url: str = "", mongo_url: str = "") -> tuple[list[EmbeddedServer], str, str]:
    """(embedded servers started here, Redis URL, MongoDB URL): a URL given is used as is."""
    embedded: list[EmbeddedServer] = []
    if not redis_url:
        embedded.append(asyncio.run(start_redis(data)))
        redis_url = embedded[-1].url
    if not mongo_url:
        embedded.append(asyncio.run(start_mongo(data)))
        mongo_url = embedded[-1].url
    return embedded, redis_url, mongo_url


def run_wrk(cmd: list[str], threads: int, env: dict[str, str] | None = None) -> dict[str, float]:
    """Run wrk with one of our Lua scripts (each prints one `RESULT {json}` line); returns that object."""
    env = {**os.environ, "WRK_THREADS": str(threads), **(env or {})}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    result: dict[str, float] = json.loads(line[len("RESULT ") :])
    return result
