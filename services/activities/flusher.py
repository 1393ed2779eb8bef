"""The sign-up flusher: copies changed sign-ups from Redis to MongoDB in idempotent batches.

A sign-up id stays in its partition's `mp:su:dirty:{act.N}` until MongoDB holds its latest version (ack
after the write, and only if the version did not move meanwhile), so a crash anywhere loses nothing: the
next flusher, on this instance or another, writes it again and the version guard makes the repeat
harmless. On start-up the service drains everything pending before it serves. Every instance runs a
flusher; a short lease per partition and batch (`mp:lock:signup-flush:{act.N}`) keeps two from doing the
same work and lets busy instances split the partitions; correctness never depends on it. The
pre-partition `mp:su:dirty` of an older release is drained the same way until it is empty.
"""

from __future__ import annotations

import asyncio
import logging
import random

from core.deps import Deps, Slot
from core.lease import Lease
from core.outage import Backoff
from services.activities import legacy_live as legacy
from services.activities import signups_store as signups_repo
from services.activities.live import SignupState, split_id, tag_of

log = logging.getLogger(__name__)
BATCH = 1000
FLUSH_LOCK = "mp:lock:signup-flush"  # + the partition's tag: one flusher per partition at a time
IDLE_SLEEP = 0.05
IDLE_SLEEP_MAX = 0.4  # sign-ups live in Redis; MongoDB's copy may trail an idle instance by this much
LEGACY = ""  # the partition name of the pre-partition dirty set


STATE = Slot[SignupState]("signups.state")


def state(deps: Deps) -> SignupState:
    return deps.get_or_make(STATE, lambda: SignupState(deps.redis, deps.redis_pipe))


async def flush_ids(deps: Deps, ids: list[str]) -> int:
    """Write these sign-ups' current state to MongoDB, then forget those unchanged since; returns how many.
    The ids may span partitions (each partition is acknowledged by its own script)."""
    st = state(deps)
    states = await st.get_many(ids)
    written = await signups_repo.write_states(deps.db, list(states.values())) if states else []
    versions = dict(written) | {i: 0 for i in ids if i not in states}  # 0: expired from Redis, nothing to write
    by_tag: dict[str, list[tuple[str, int]]] = {}
    for signup_id, version in versions.items():
        by_tag.setdefault(tag_of(split_id(signup_id)[0]), []).append((signup_id, version))
    for tag, done in by_tag.items():
        await st.ack(tag, done)
    return len(written)


async def flush_legacy_ids(deps: Deps, ids: list[str]) -> int:
    states = await legacy.get_many(deps.redis, ids)
    written = await signups_repo.write_states(deps.db, list(states.values())) if states else []
    await legacy.ack(deps.redis, written + [(i, 0) for i in ids if i not in states])
    return len(written)


async def flush_activity(deps: Deps, aid: str) -> int:
    """Everything of one activity still waiting in Redis (an export, a rebuild), in either layout."""
    n = await flush_ids(deps, await state(deps).dirty_of(aid))
    return n + await flush_legacy_ids(deps, await legacy.dirty_of(deps.redis, aid))


async def _waiting(deps: Deps) -> dict[str, int]:
    counts = await state(deps).dirty_counts()
    counts[LEGACY] = await legacy.dirty_count(deps.redis)
    return {tag: n for tag, n in counts.items() if n}


async def _flush_partition(deps: Deps, tag: str, batch: int) -> int:
    lease = Lease(deps.redis, f"{FLUSH_LOCK}{tag}", ttl=30)  # a dead holder on this host is taken over at once
    if not await lease.acquire():
        return 0
    try:
        if tag == LEGACY:
            ids = await legacy.dirty_batch(deps.redis, batch)
            return await flush_legacy_ids(deps, ids) if ids else 0
        ids = await state(deps).dirty_batch(tag, batch)
        return await flush_ids(deps, ids) if ids else 0
    finally:
        await lease.release()


async def flush_once(deps: Deps, batch: int = BATCH) -> int:
    """One batch from every partition with work whose lease is free; returns how many were written."""
    waiting = list(await _waiting(deps))  # the common case when idle: one cheap round trip, no leases
    random.shuffle(waiting)
    total = 0
    for tag in waiting:
        total += await _flush_partition(deps, tag, batch)
    return total


async def pending(deps: Deps) -> int:
    return sum((await _waiting(deps)).values())


async def flush_all(deps: Deps, batch: int = BATCH) -> int:
    """Drain every pending sign-up (start-up, tests, the benchmark); returns how many were written."""
    total = 0
    while await pending(deps):
        n = await flush_once(deps, batch)
        total += n
        if n == 0:
            await asyncio.sleep(IDLE_SLEEP)  # another instance holds the leases
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
    backoff = Backoff()
    while not stop_requested():
        try:
            n = await flush_once(deps)
            backoff.reset()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - MongoDB or Redis hiccup: keep the loop alive, retry shortly
            log.exception("sign-up flush failed; retrying")  # one line per outage (core/outage.py)
            await pause(backoff.next())
            continue
        idle = IDLE_SLEEP if n else min(idle * 2, IDLE_SLEEP_MAX)
        if n < BATCH:
            await pause(idle)
