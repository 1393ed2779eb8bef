"""The roster's use cases: kept whole (rebuilt when Redis lost it, healed after a crash) and read by
push audiences (services/pushes/audiences.py). What it holds: services/followers/roster_live.py.

A follower's own changes reach it in services/followers/following.py (mark, MongoDB, settle).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from core.deps import Deps
from services.followers import roster_live, store
from services.orgs.store import PROVINCE_CODE

log = logging.getLogger(__name__)

Db = AsyncDatabase[dict[str, Any]]
PARTITIONS = roster_live.PARTITIONS
EVERYONE = (roster_live.ALL,)  # the set of every subscribed follower
ROSTER_LOCK_SECONDS = 120
ROSTER_HEAL_AFTER = 60.0  # a change not settled after this long: its process died in between


async def rebuild_roster(db: Db, redis: aioredis.Redis) -> int:
    """Fill the roster from MongoDB when Redis lost it (one process, under a renewed lock).

    Changes made meanwhile go to the roster as usual and win over the rebuild's older reads (the
    rebuild only fills openids the roster has no entry for; one who leaves meanwhile keeps a mark)."""
    if await roster_live.built(redis) or not await roster_live.claim_rebuild(redis, ROSTER_LOCK_SECONDS):
        return 0
    n, done = 0, False
    try:
        await roster_live.start_rebuild(redis)
        batch: dict[str, list[str]] = {}
        async for openid, path in store.subscribed_paths(db):
            batch[openid] = path
            if len(batch) >= 2000:
                n += len(batch)
                await roster_live.fill(redis, batch)
                await roster_live.renew_rebuild(redis, ROSTER_LOCK_SECONDS)
                batch = {}
        n += len(batch)
        await roster_live.fill(redis, batch)
        done = True
        log.info("follower roster rebuilt: %s subscribed followers", n)
    finally:
        await roster_live.finish_rebuild(redis, done)
    return n


async def heal_roster(db: Db, redis: aioredis.Redis) -> int:
    """Changes whose process died between MongoDB and the roster: the roster takes MongoDB's state."""
    marks = await roster_live.stale_marks(redis, ROSTER_HEAL_AFTER)
    if not marks:
        return 0
    found = await store.states(db, list(marks))
    return await roster_live.heal(redis, {o: (found[o], token) for o, token in marks.items()})


async def roster_turn(deps: Deps) -> None:
    """The background turn (every instance; the rebuild is locked, healing is idempotent)."""
    await rebuild_roster(deps.db, deps.redis)
    await heal_roster(deps.db, deps.redis)


# --- reading (push audiences) ------------------------------------------------------------------------
def set_names(orgs: Sequence[str]) -> list[str]:
    """The roster's sets for an audience of these orgs' subtrees (the province: every follower)."""
    return [roster_live.ALL] if PROVINCE_CODE in orgs else list(dict.fromkeys(orgs))


async def ready(redis: aioredis.Redis) -> bool:
    return await roster_live.built(redis)


async def generation(redis: aioredis.Redis) -> str | None:
    """The rebuild the complete roster comes from; None while it is not complete."""
    return await roster_live.generation(redis)


async def sizes(redis: aioredis.Redis, sets: Sequence[str]) -> list[int]:
    return await roster_live.sizes(redis, sets)


async def bounds(redis: aioredis.Redis, partition: int, sets: Sequence[str]) -> tuple[str, str] | None:
    """Lowest and highest openid over the sets in one partition."""
    found = [b for s in sets if (b := await roster_live.bounds(redis, partition, s)) is not None]
    return (min(b[0] for b in found), max(b[1] for b in found)) if found else None


async def page(
    redis: aioredis.Redis, partition: int, sets: Sequence[str], after: str | None, upto: str | None, limit: int
) -> list[str]:
    """Up to `limit` openids in the union of the sets in one partition, `after` < openid <= `upto`,
    in order, each once (a follower is in every set of their path)."""
    if len(sets) == 1:
        return await roster_live.page(redis, partition, sets[0], after, upto, limit)
    merged: set[str] = set()
    for s in sets:
        merged.update(await roster_live.page(redis, partition, s, after, upto, limit))
    return sorted(merged)[:limit]
