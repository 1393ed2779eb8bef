"""Sign-up confirmations' Redis side: the `mp:su:notify` stream the sign-up script appends to, read
by one consumer group (`notify`) so each confirmation is handled by one instance."""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from services.activities.live import NOTIFY

GROUP = "notify"
Entry = tuple[str, dict[str, str]]


async def ensure_group(redis: aioredis.Redis) -> None:
    try:
        await redis.xgroup_create(NOTIFY, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def forget(redis: aioredis.Redis, entry_ids: list[str]) -> None:
    """Acknowledge and delete: done before sending, so a confirmation is sent at most once."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xack(NOTIFY, GROUP, *entry_ids)
        pipe.xdel(NOTIFY, *entry_ids)
        await pipe.execute()


async def claim_stale(redis: aioredis.Redis, consumer: str, count: int, idle_ms: int = 60_000) -> list[Entry]:
    """Entries a dead instance read but never handled (deleted ones come back without fields)."""
    claimed = await redis.xautoclaim(NOTIFY, GROUP, consumer, min_idle_time=idle_ms, start_id="0-0", count=count)
    return [e for e in claimed[1] if e[1]]


async def read_new(redis: aioredis.Redis, consumer: str, count: int, block_ms: int) -> list[Entry]:
    read = cast(list[Any], await redis.xreadgroup(GROUP, consumer, {NOTIFY: ">"}, count=count, block=block_ms or None))
    return [entry for _, entries in read or [] for entry in entries]
