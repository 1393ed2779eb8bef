"""Receipts' Redis side: the msgid -> run map (`push:msgid:<yyyymmdd>`, 2 days) and the report
stream (`push:receipts`) that /wechat appends to and the push supervisor drains."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any, cast

import redis.asyncio as aioredis

STREAM = "push:receipts"
MAP_TTL = 2 * 86400  # reports come within minutes; two days covers a send just before midnight
STREAM_MAX = 2_000_000


def map_key(day: Any) -> str:
    return f"push:msgid:{day:%Y%m%d}"


async def remember(redis: aioredis.Redis, day: datetime, run_id: str, keys: list[str]) -> None:
    key = map_key(day)
    pipe = redis.pipeline(transaction=False)
    pipe.hset(key, mapping=dict.fromkeys(keys, run_id))
    pipe.expire(key, MAP_TTL)
    await pipe.execute()


async def add_report(redis: aioredis.Redis, entry: dict[str, str]) -> None:
    await redis.xadd(STREAM, entry, maxlen=STREAM_MAX, approximate=True)  # type: ignore[arg-type]


async def settled_reports(redis: aioredis.Redis, settle_ms: int, count: int) -> list[tuple[str, dict[str, str]]]:
    """The oldest reports older than `settle_ms` (decode_responses: every key and value is a str)."""
    until = f"{int(time.time() * 1000) - settle_ms}"
    return cast(list[tuple[str, dict[str, str]]], await redis.xrange(STREAM, "-", until, count=count))


async def delete_reports(redis: aioredis.Redis, entry_ids: list[str]) -> None:
    await redis.xdel(STREAM, *entry_ids)


async def runs_of(redis: aioredis.Redis, today: datetime, keys: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for back in range(2):  # the map of the send's day; a report may cross midnight
        missing = [m for m in keys if m not in found]
        if not missing:
            break
        values = await redis.hmget(map_key(today - timedelta(days=back)), missing)
        found.update({m: str(r) for m, r in zip(missing, values, strict=True) if r})
    return found
