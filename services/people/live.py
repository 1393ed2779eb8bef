"""People's Redis side: followers waiting for their unionid, and the back-fill's cursor.

`people:uq` set of follower openids to look up; `people:uq:lease` one drainer at a time;
`people:backfill` where the back-fill resumes ("PP|openid": the followers' roster partition and the last
openid visited in it); `people:backfill:done`
set once every follower was visited.
"""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis

from core.lease import Lease

QUEUE = "people:uq"
CURSOR = "people:backfill"
DONE = "people:backfill:done"


async def enqueue(redis: aioredis.Redis, openids: list[str]) -> None:
    if openids:
        await redis.sadd(QUEUE, *openids)


async def peek(redis: aioredis.Redis, count: int) -> list[str]:
    """Up to `count` queued openids; they stay queued until `remove` (a crash loses nothing)."""
    return cast(list[str], await redis.srandmember(QUEUE, count) or [])


async def remove(redis: aioredis.Redis, openids: list[str]) -> None:
    if openids:
        await redis.srem(QUEUE, *openids)


async def queued(redis: aioredis.Redis) -> int:
    return int(await redis.scard(QUEUE))


def drain_lease(redis: aioredis.Redis, ttl: float) -> Lease:
    return Lease(redis, f"{QUEUE}:lease", ttl=ttl)


async def backfill_cursor(redis: aioredis.Redis) -> str | None:
    """Where the back-fill resumes; None once it has visited everyone."""
    if await redis.exists(DONE):
        return None
    return cast("str | None", await redis.get(CURSOR)) or ""


async def advance_backfill(redis: aioredis.Redis, last: str | None) -> None:
    if last is None:
        await redis.set(DONE, "1")
    else:
        await redis.set(CURSOR, last)
