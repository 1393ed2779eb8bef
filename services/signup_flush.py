"""The sign-up flusher: copies changed sign-ups from Redis to MongoDB in idempotent batches.

A sign-up id stays in `mp:su:dirty` until MongoDB holds its latest version (ack after the write, and only
if the version did not move meanwhile), so a crash anywhere loses nothing: the next flusher, on this
instance or another, writes it again and the version guard makes the repeat harmless. On start-up the
service drains everything pending before it serves. Several instances may run flushers: a short Redis
lock per batch keeps them from doing the same work twice; correctness never depends on it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import cast

from core.deps import Deps
from services.activities import signups_store as signups_repo
from services.activities.live import SignupState

log = logging.getLogger(__name__)
BATCH = 1000
IDLE_SLEEP = 0.05
IDLE_SLEEP_MAX = 0.4  # sign-ups live in Redis; MongoDB's copy may trail an idle instance by this much


def state(deps: Deps) -> SignupState:
    st = deps.extras.get("signups.state")
    if st is None:
        st = deps.extras["signups.state"] = SignupState(deps.redis, deps.redis_pipe)
    return cast(SignupState, st)


async def flush_ids(deps: Deps, ids: list[str]) -> int:
    """Write these sign-ups' current state to MongoDB, then forget those unchanged since; returns how many."""
    st = state(deps)
    states = await st.get_many(ids)
    written = await signups_repo.write_states(deps.db, list(states.values())) if states else []
    gone = [(i, 0) for i in ids if i not in states]  # expired from Redis: nothing left to write
    await st.ack(written + gone)
    return len(written)


async def flush_once(deps: Deps, batch: int = BATCH) -> int:
    st = state(deps)
    if not await st.dirty_count():  # the common case when idle: one cheap read, no lock round trips
        return 0
    token = secrets.token_hex(8)
    if not await st.lock("signup-flush", token, 30_000):
        return 0
    try:
        ids = await st.dirty_batch(batch)
        return await flush_ids(deps, ids) if ids else 0
    finally:
        await st.unlock("signup-flush", token)


async def flush_all(deps: Deps, batch: int = BATCH) -> int:
    """Drain every pending sign-up (start-up, tests, the benchmark); returns how many were written."""
    total = 0
    st = state(deps)
    while await st.dirty_count():
        n = await flush_once(deps, batch)
        total += n
        if n == 0:
            await asyncio.sleep(IDLE_SLEEP)  # another instance holds the batch lock
    return total


def stop_requested() -> bool:
    """True once the running task was asked to stop. Background loops check it on every turn and before
    every pause: the database drivers can swallow a cancellation that lands mid-call (seen in tests with
    redis-py 8.1 and pymongo 4.20), and a loop that missed it would run on and hang close_deps()."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def pause(seconds: float) -> None:
    """asyncio.sleep that first honours a cancellation swallowed earlier in this turn of the loop."""
    if stop_requested():
        raise asyncio.CancelledError
    await asyncio.sleep(seconds)


async def run_flusher(deps: Deps) -> None:
    """The background loop (one per instance): flush continuously while there is work, poll when idle
    (every 50 ms after work, backing off to IDLE_SLEEP_MAX while nothing arrives)."""
    idle = IDLE_SLEEP
    while not stop_requested():
        try:
            n = await flush_once(deps)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - MongoDB or Redis hiccup: keep the loop alive, retry shortly
            log.exception("sign-up flush failed; retrying")
            await pause(1.0)
            continue
        idle = IDLE_SLEEP if n else min(idle * 2, IDLE_SLEEP_MAX)
        if n < BATCH:
            await pause(idle)
