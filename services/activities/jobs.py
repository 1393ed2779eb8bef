"""The sign-up background work of one instance, started once the app is ready (app.start_hooks)."""

from __future__ import annotations

import asyncio
import logging

from core.deps import Deps
from services.activities.flusher import flush_all, run_flusher
from services.activities.reminders import ensure_group, run_notifier

log = logging.getLogger(__name__)
SHUTDOWN_FLUSH_SECONDS = 5.0


async def start(deps: Deps) -> None:
    """Drain what a previous run left unflushed, then run the flusher and the message senders."""
    drained = await flush_all(deps)
    if drained:
        log.info("start-up: flushed %d pending sign-ups to MongoDB", drained)
    await ensure_group(deps)
    deps.spawn(run_flusher(deps), "signups.flusher")
    deps.spawn(run_notifier(deps), "signups.notifier")

    async def final_flush() -> None:
        try:
            await asyncio.wait_for(flush_all(deps), SHUTDOWN_FLUSH_SECONDS)
        except Exception:  # noqa: BLE001 - Redis keeps the rest (AOF); the next start drains it
            log.warning("shutdown flush incomplete; the next start-up drains the rest")

    deps.closers.append(final_flush)
