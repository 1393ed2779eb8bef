"""Background work of learning: the progress write-behind (Redis -> MongoDB, journaled, version-guarded).

A unit key stays in its `ln:dirty:<partition>` queue until MongoDB holds its latest version: the ack
after the write removes it only when the version did not move meanwhile. A crash anywhere loses
nothing: the next flusher (here or on another instance) writes it again, and the version guard makes
the repeat harmless.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from core.deps import Deps
from services.activities.flusher import pause, stop_requested
from services.learning import live, store
from services.learning.studying import progress_row

log = logging.getLogger(__name__)
BATCH = 500
# Write a changed unit once it has waited a minute: about four heartbeats per MongoDB write. Redis (AOF)
# holds the truth meanwhile and serves every read; completions are written at once, in the request.
MIN_AGE_MS = 60_000
IDLE_SLEEP, IDLE_SLEEP_MAX = 0.1, 2.0


async def flush_once(deps: Deps, batch: int = BATCH, min_age_ms: int = 0) -> int:
    """One batch from each queue that has keys (queues are partitioned: each has its own lock)."""
    lv = live.live(deps)
    total = 0
    for dirty, count in zip(live.dirty_keys(), await lv.dirty_counts(), strict=True):
        if count:
            total += await _flush_queue(deps, lv, dirty, batch, min_age_ms)
    return total


async def _flush_queue(deps: Deps, lv: live.Live, dirty: str, batch: int, min_age_ms: int) -> int:
    token = secrets.token_hex(8)
    if not await lv.lock(dirty, token, 30_000):
        return 0
    try:
        keys = await lv.dirty_batch(dirty, batch, min_age_ms)
        if not keys:
            return 0
        states = await lv.get_many(keys)
        await store.write_progress(deps.db, [progress_row(s) for s in states])
        found = {s.key for s in states}
        await lv.ack(dirty, [(s.key, s.version) for s in states] + [(k, 0) for k in keys if k not in found])
        return len(states)
    finally:
        await lv.unlock(dirty, token)


async def flush_all(deps: Deps) -> int:
    """Drain everything pending (start-up, tests, the benchmark)."""
    total = 0
    lv = live.live(deps)
    while await lv.dirty_count():
        n = await flush_once(deps)
        total += n
        if n == 0:
            await asyncio.sleep(IDLE_SLEEP)  # another instance holds the batch lock
    return total


async def run_progress_flusher(deps: Deps) -> None:
    idle = IDLE_SLEEP
    while not stop_requested():
        try:
            n = await flush_once(deps, min_age_ms=MIN_AGE_MS)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - MongoDB or Redis hiccup: keep the loop alive, retry shortly
            log.exception("learning progress flush failed; retrying")
            await pause(1.0)
            continue
        idle = IDLE_SLEEP if n else min(idle * 2, IDLE_SLEEP_MAX)
        if n < BATCH:
            await pause(idle)


async def start(deps: Deps) -> None:
    """Start-up hook: keep writing progress behind, starting with what a previous process left.

    Not drained before serving (unlike sign-ups): Redis answers every progress read, so a backlog only
    delays MongoDB's copy, and waiting for it would delay the restart by as much.
    """
    deps.spawn(run_progress_flusher(deps), "learning-progress-flusher")
