"""Keeps the embedded Redis and MongoDB-wire servers running: a dead child is reaped and restarted.

Without it, a child that died (OOM killer, a crash, kill -9) left the service answering 503 until an
operator restarted everything, and the dead Redis lingered as a zombie. The supervisor polls each child
(`poll()` also reaps it), restarts it with the same data directory and URL (Redis: the same unix socket,
MongoDB-wire: the same port), so the clients reconnect by themselves and /healthz turns green on its own.
Restarts back off (0.5 s doubling to 30 s) while a child keeps dying; each death and recovery is one line.
"""

from __future__ import annotations

import asyncio
import logging
import time

from core.embedded import EmbeddedServer

log = logging.getLogger(__name__)
CHECK_SECONDS = 0.25
FIRST_DELAY = 0.5
MOST_DELAY = 30.0
STABLE_SECONDS = 60.0  # a child that ran this long is healthy again: the next death restarts at once


class Supervisor:
    def __init__(self, servers: list[EmbeddedServer]) -> None:
        self.servers = servers
        self.restarts: dict[str, int] = {s.name: 0 for s in servers}
        self._delay: dict[str, float] = {}
        self._started: dict[str, float] = {s.name: time.monotonic() for s in servers}

    async def run(self) -> None:
        while True:
            for server in self.servers:
                if server.process.poll() is not None:  # dead (and reaped by poll)
                    await self._restart(server)
            await asyncio.sleep(CHECK_SECONDS)

    async def _restart(self, server: EmbeddedServer) -> None:
        if server.respawn is None:
            return
        name = server.name
        if time.monotonic() - self._started[name] > STABLE_SECONDS:
            self._delay.pop(name, None)  # it had been running fine: a new incident
        delay = self._delay.get(name, 0.0)
        # One warning per incident: a child dying again and again while we back off is said once, at
        # the start; the rest is DEBUG (the count is in the next incident's first line).
        level = logging.WARNING if not delay else logging.DEBUG
        log.log(level, "embedded %s exited (code %s); restarting%s", name, server.process.returncode,
                f" in {delay:.1f}s" if delay else "")  # fmt: skip
        if delay:
            await asyncio.sleep(delay)
        self._delay[name] = min(MOST_DELAY, max(FIRST_DELAY, delay * 2))
        try:
            fresh = await server.respawn()
        except Exception as exc:  # noqa: BLE001 - e.g. the data directory is full: try again later
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.log(level, "embedded %s did not restart: %s", name, first_line)
            return  # still dead: the next check tries again, after a longer delay
        server.process = fresh.process
        self._started[name] = time.monotonic()
        self.restarts[name] += 1
        log.log(level if delay else logging.INFO, "embedded %s restarted (%d restarts so far)", name,
                self.restarts[name])  # fmt: skip
