"""One-time form keys in Redis: `console:once:<editor>:<kind>:<key>` -> the created item's id."""

from __future__ import annotations

import redis.asyncio as aioredis

TTL = 24 * 3600
PENDING = "…"


def _key(user: str, kind: str, key: str) -> str:
    return f"console:once:{user}:{kind}:{key}"


async def claim(redis: aioredis.Redis, user: str, kind: str, key: str) -> bool:
    """True for the first submit of this key (it creates the item)."""
    return bool(await redis.set(_key(user, kind, key), PENDING, nx=True, ex=TTL))


async def release(redis: aioredis.Redis, user: str, kind: str, key: str) -> None:
    await redis.delete(_key(user, kind, key))


async def record(redis: aioredis.Redis, user: str, kind: str, key: str, item_id: str) -> None:
    await redis.set(_key(user, kind, key), item_id, ex=TTL)


async def result(redis: aioredis.Redis, user: str, kind: str, key: str) -> str | None:
    """The created item's id, PENDING while the first submit runs, None when it failed."""
    value = await redis.get(_key(user, kind, key))
    return None if value is None else str(value)
