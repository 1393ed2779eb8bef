"""Sign-up confirmations' Redis side: one stream per partition (`mp:su:notify:{act.N}`, appended to by
the sign-up script of that partition's activities), each read by one consumer group (`notify`) so each
confirmation is handled by one instance. The pre-partition `mp:su:notify` is read until it is empty."""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from services.activities.legacy_live import OLD_NOTIFY
from services.activities.live import TAGS, notify_key

GROUP = "notify"
Entry = tuple[str, dict[str, str]]
STREAMS = [notify_key(tag) for tag in TAGS]


async def ensure_group(redis: aioredis.Redis, stream: str) -> None:
    try:
        # The old stream is never created: it is only read while an older release's entries remain.
        await redis.xgroup_create(stream, GROUP, id="0", mkstream=stream != OLD_NOTIFY)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc) and not (stream == OLD_NOTIFY and "requires the key to exist" in str(exc)):
            raise


async def ensure_groups(redis: aioredis.Redis) -> None:
    for stream in [*STREAMS, OLD_NOTIFY]:
        await ensure_group(redis, stream)


async def waiting(redis: aioredis.Redis) -> list[str]:
    """The streams that hold entries (new, or read by a consumer and not yet handled), in one round trip."""
    streams = [*STREAMS, OLD_NOTIFY]
    async with redis.pipeline(transaction=False) as pipe:
        for stream in streams:
            pipe.xlen(stream)
        counts = await pipe.execute()
    return [s for s, n in zip(streams, counts, strict=True) if n]


async def forget(redis: aioredis.Redis, stream: str, entry_ids: list[str]) -> None:
    """Acknowledge and delete: done before sending, so a confirmation is sent at most once."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xack(stream, GROUP, *entry_ids)
        pipe.xdel(stream, *entry_ids)
        await pipe.execute()


async def claim_stale(
    redis: aioredis.Redis, stream: str, consumer: str, count: int, idle_ms: int = 60_000
) -> list[Entry]:
    """Entries a dead instance read but never handled (deleted ones come back without fields)."""
    claimed = await redis.xautoclaim(stream, GROUP, consumer, min_idle_time=idle_ms, start_id="0-0", count=count)
    return [e for e in claimed[1] if e[1]]


async def read_new(redis: aioredis.Redis, stream: str, consumer: str, count: int) -> list[Entry]:
    try:
        read = cast(list[Any], await redis.xreadgroup(GROUP, consumer, {stream: ">"}, count=count))
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        await ensure_group(redis, stream)  # Redis lost the group (a flush): make it again
        return []
    return [entry for _, entries in read or [] for entry in entries]
