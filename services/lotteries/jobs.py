"""Lottery background loops: the instant-win write-behind and the end of 公示 (grants, then final)."""

from __future__ import annotations

import asyncio
import logging

from core.clock import now
from core.deps import Deps
from services.activities.flusher import pause, stop_requested
from services.lotteries import admin, instant, store

log = logging.getLogger(__name__)
FLUSH_EVERY = 1.0
FINALIZE_EVERY = 600.0


async def run_play_flusher(deps: Deps) -> None:
    while not stop_requested():
        try:
            while await instant.flush_plays(deps) and not stop_requested():
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("lottery play flush failed; retrying")
        await pause(FLUSH_EVERY)


async def finalize_due(deps: Deps) -> int:
    """Every lottery whose 公示 ended: grant and mark final (idempotent; several instances may race)."""
    done = 0
    for lottery_id in await store.due_for_final(deps.db, now()):
        done += int(await admin.finalize(deps, lottery_id))
    return done


async def run_finalizer(deps: Deps) -> None:
    while not stop_requested():
        try:
            await finalize_due(deps)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("lottery finalize failed; retrying")
        await pause(FINALIZE_EVERY)


async def start(deps: Deps) -> None:
    """Drain plays left by a previous process, then keep the loops running (moving to scheduler/)."""
    while await instant.flush_plays(deps):
        pass
    deps.spawn(run_play_flusher(deps), "lottery-play-flusher")
    deps.spawn(run_finalizer(deps), "lottery-finalizer")
