"""Moves accepted ballots from the Redis streams into MongoDB in idempotent batches.

Each stream (one per partition, plus the pre-partition `mp:ballots` until it is empty) holds exactly
the ballots not yet stored: a batch is read from its head, inserted (ballots already stored are skipped
thanks to their deterministic ids), and only then deleted from the stream. A crash anywhere in between
means the batch is read and inserted again — never lost, never stored twice. Redis persists the streams
(AOF), so ballots accepted just before a crash of the service are flushed by the next process that
starts: `start()` drains what is pending before serving.

Several service instances run a flusher. Each partition has its own lease (`mp:ballots:{poll.N}:flusher`),
held while its stream has work and given back when it is empty, so busy instances split the partitions
and one partition is worked by one instance at a time; correctness does not depend on the leases.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from core.deps import Deps
from core.lease import Lease
from core.outage import Backoff
from services.polls import ballots_store as ballots

log = logging.getLogger(__name__)

BATCH = 200  # small enough that one batch (BSON-encoded on the event loop) never stalls requests for long:
# 500 gave p99 98-137 ms in bench/ballots.py, 200 gave 90-125 ms with higher throughput
LEASE_MS = 5_000
IDLE_SLEEP = 0.05
IDLE_SLEEP_MAX = 0.5  # MongoDB's copy may trail an idle instance by this much (counts are live in Redis)


def lease_key(stream: str) -> str:
    """`mp:ballots:{poll.N}:flusher`; the pre-partition stream keeps its old lease, `mp:ballots:flusher`."""
    return f"{stream}:flusher"


async def flush_stream(deps: Deps, stream: str) -> int:
    """Store one batch from the head of one stream; returns how many entries it handled."""
    entries = await ballots.read_pending(deps.redis, stream, BATCH)
    if not entries:
        return 0
    docs = [ballots.to_doc(fields) for _, fields in entries]
    await ballots.store(deps.db, docs)
    await ballots.trim(deps.redis, stream, [entry_id for entry_id, _ in entries])
    return len(entries)


async def drain(deps: Deps, streams: list[str] | None = None) -> int:
    """Flush these streams (default: all) until empty (start-up, before a recount)."""
    total = 0
    for stream in streams or ballots.STREAMS:
        while True:
            n = await flush_stream(deps, stream)
            total += n
            if n < BATCH:
                break
    return total


async def drain_poll(deps: Deps, poll_id: str) -> int:
    """Every ballot of this poll in MongoDB: its partition and the pre-partition stream."""
    return await drain(deps, [ballots.stream_of(poll_id), ballots.OLD_STREAM])


class Partitions:
    """This instance's leases on the streams, kept while a stream has work and given back when it is empty,
    so busy instances split the partitions and an idle one holds none."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.leases = {s: Lease(deps.redis, lease_key(s), ttl=LEASE_MS / 1000) for s in ballots.STREAMS}

    async def turn(self) -> int:
        """One batch from every waiting stream this instance holds or can take; returns how many were stored."""
        counts = await ballots.lengths(self.deps.redis, ballots.STREAMS)
        waiting = [s for s, n in counts.items() if n]
        random.shuffle(waiting)  # instances starting together do not all queue on the same partition
        total = 0
        for stream in waiting:
            lease = self.leases[stream]
            if lease.held and lease.held_until - time.monotonic() > LEASE_MS / 2000:
                pass  # ours for a while yet: no round trip
            elif not (await lease.renew() if lease.held else await lease.acquire()):
                continue  # another instance is on it
            total += await flush_stream(self.deps, stream)
        for stream, n in counts.items():
            if not n and self.leases[stream].held:
                await self.leases[stream].release()
        return total

    async def release_all(self) -> None:
        for lease in self.leases.values():
            if lease.held:
                await lease.release()


async def flush_once(deps: Deps) -> int:
    """One turn of a fresh flusher (tests): a batch from every waiting stream whose lease is free."""
    parts = Partitions(deps)
    try:
        return await parts.turn()
    finally:
        await parts.release_all()


async def run(deps: Deps) -> None:
    """The background loop: flush while ballots arrive, in batches that fill for IDLE_SLEEP after a small
    one (a turn costs a few round trips whatever its size), polling with a growing pause when idle."""
    backoff = Backoff()
    idle = IDLE_SLEEP
    parts = Partitions(deps)
    while True:
        try:
            n = await parts.turn()
            backoff.reset()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - Redis or MongoDB unavailable: the ballots wait in the stream
            log.exception("ballot flush failed; retrying")  # one line per outage (core/outage.py)
            await asyncio.sleep(backoff.next())
            continue
        idle = IDLE_SLEEP if n else min(idle * 2, IDLE_SLEEP_MAX)
        await asyncio.sleep(0 if n >= BATCH else IDLE_SLEEP if n else idle)


async def start(deps: Deps) -> None:
    """Start-up hook: drain what a previous process left, then keep flushing in the background."""
    drained = await drain(deps)
    if drained:
        log.info("flushed %d ballots left pending by a previous run", drained)
    deps.spawn(run(deps), "ballot-flusher")
    deps.closers.append(lambda: _final_drain(deps))


async def _final_drain(deps: Deps) -> None:
    try:
        await asyncio.wait_for(drain(deps), 5)
    except Exception:  # noqa: BLE001 - shutting down: what is left is flushed at the next start
        log.warning("ballots left in the stream at shutdown are flushed at the next start")
