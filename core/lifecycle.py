"""The service's life cycle around serving: what start-up brought up, and a shutdown that always ends.

SIGTERM must end the service within a bounded time even with a database down: every step of the stop
is bounded, and `exit_after` ends the process anyway once SHUTDOWN_LIMIT has passed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from core.deps import Deps, close_deps
from core.embedded import EmbeddedServer

log = logging.getLogger("sdgh")
SHUTDOWN_LIMIT = 25.0  # seconds from SIGTERM to exit, whatever is stuck (a database down, a hung client)
Hook = Callable[[Deps], Awaitable[None]]


class Running:
    """What start-up has brought up so far (shutdown stops exactly that)."""

    def __init__(self) -> None:
        self.embedded: list[EmbeddedServer] = []
        self.deps: Deps | None = None
        self.fake: Any = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.redis_url = self.mongo_url = ""


async def shutdown(server: Any, run: Running, stop_hooks: list[Hook]) -> None:
    """Stop what start-up brought up, each step bounded (exit_after is the backstop for the rest)."""
    server.stop()
    try:
        await asyncio.wait_for(server.close_all_connections(), 5)
    except TimeoutError:
        log.warning("connections still open after 5s; closing anyway")
    for proc in run.workers:
        proc.terminate()
    for proc in run.workers:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if run.deps is not None:
        for stop_hook in stop_hooks:
            try:
                await asyncio.wait_for(stop_hook(run.deps), 10)
            except Exception as exc:  # noqa: BLE001 - a database down must not keep the process alive
                log.warning("stop hook %s did not finish: %s", getattr(stop_hook, "__qualname__", stop_hook), exc)
        await close_deps(run.deps)
    if run.fake is not None:
        await run.fake.stop()
    for emb in reversed(run.embedded):
        emb.stop()


def exit_after(seconds: float) -> None:
    """The last resort: whatever hangs in shutdown, the process ends `seconds` after the stop began
    (the embedded children get SIGTERM from the kernel when we go: PR_SET_PDEATHSIG)."""

    def bail_out() -> None:
        os.write(2, f"shutdown took over {seconds:.0f}s; exiting now\n".encode())
        os._exit(1)

    timer = threading.Timer(seconds, bail_out)
    timer.daemon = True
    timer.start()


def stop_event() -> asyncio.Event:
    """Set by SIGTERM / SIGINT, from the first moment (a stop during start-up must work too)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
