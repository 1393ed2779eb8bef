"""Moves accepted ballots from the Redis stream into MongoDB in idempotent batches.

The stream holds exactly the ballots not yet stored: a batch is read from its head, inserted (ballots
already stored are skipped thanks to their deterministic ids), and only then deleted from the stream. A
crash anywhere in between means the batch is read and inserted again — never lost, never stored twice.
Redis persists the stream (AOF), so ballots accepted just before a crash of the service are flushed by
the next process that starts: `start()` drains what is pending before serving.

Several service instances may run a flusher; a lease in Redis (`mp:ballots:flusher`) lets one work at a
time to avoid duplicate effort. Correctness does not depend on the lease.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from core.deps import Deps
from services.polls import ballots_store as ballots

log = logging.getLogger(__name__)

BATCH = 200  # small enough that one batch (BSON-encoded on the event loop) never stalls requests for long:
# 500 gave p99 98-137 ms in bench/ballots.py, 200 gave 90-125 ms with higher throughput
LEASE_KEY = "mp:ballots:flusher"
LEASE_MS = 5_000
IDLE_BLOCK_MS = 500
RETRY_SECONDS = 1.0

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""


async def flush_once(deps: Deps, block_ms: int | None = None) -> int:
    """Store one batch from the head of the stream; returns how many entries it handled."""
    entries = await ballots.read_pending(deps.redis, BATCH, block_ms)
    if not entries:
        return 0
    docs = [ballots.to_doc(fields) for _, fields in entries]
    await ballots.store(deps.db, docs)
    await ballots.trim(deps.redis, [entry_id for entry_id, _ in entries])
    return len(entries)


async def drain(deps: Deps) -> int:
    """Flush until the stream is empty (start-up, before a recount)."""
    total = 0
    while True:
        n = await flush_once(deps)
        total += n
        if n < BATCH:
            return total


async def run(deps: Deps) -> None:
    """The background loop: hold the lease, flush as ballots arrive; on errors wait and retry."""
    owner = secrets.token_hex(8)
    renew = deps.redis.register_script(_RENEW)
    while True:
        try:
            if not await renew(keys=[LEASE_KEY], args=[owner, LEASE_MS]):
                await asyncio.sleep(LEASE_MS / 1000 / 2)
                continue
            await flush_once(deps, block_ms=IDLE_BLOCK_MS)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - Redis or MongoDB unavailable: the ballots wait in the stream
            log.exception("ballot flush failed; retrying in %.0fs", RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)


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
