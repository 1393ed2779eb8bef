"""The followers' Redis side: what the message path reads per message without touching MongoDB.

- `msg:fo` openid -> org path of bound followers (MongoDB stays the source of truth; the hash is
  rebuilt from it when Redis lost it; `msg:fo:built` marks a finished rebuild);
- `msg:seen` openid -> last interaction (unix time), moved to MongoDB every 30 s in batches;
- `msg:loc:<openid>` one location reply per location event burst.
The dedupe round trip (wechat_bot/dedupe.py) reads and writes the first two by these names.
"""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis

ORG_KEY = "msg:fo"
SEEN_KEY = "msg:seen"
ORG_CACHE_BUILT = "msg:fo:built"
ORG_CACHE_LOCK = "msg:fo:building"

_TAKE_SEEN = """
if redis.call('exists', KEYS[1]) == 0 then return {} end
redis.call('rename', KEYS[1], KEYS[2])
return redis.call('hgetall', KEYS[2])
"""


def location_key(openid: str) -> str:
    return f"msg:loc:{openid}"


async def first_location_reply(redis: aioredis.Redis, openid: str, seconds: int) -> bool:
    """True for the first location event of `openid` within `seconds` (the one that gets a reply)."""
    return bool(await redis.set(location_key(openid), "1", nx=True, ex=seconds))


async def set_org_path(redis: aioredis.Redis, openid: str, path: tuple[str, ...] | list[str]) -> None:
    await redis.hset(ORG_KEY, openid, ",".join(path))


async def set_org_paths(redis: aioredis.Redis, paths: dict[str, str]) -> None:
    await redis.hset(ORG_KEY, mapping=paths)  # type: ignore[arg-type]


async def forget(redis: aioredis.Redis, openid: str) -> None:
    """Everything the message path holds about a follower who left."""
    pipe = redis.pipeline(transaction=False)
    pipe.hdel(ORG_KEY, openid)
    pipe.hdel(SEEN_KEY, openid)
    pipe.delete(location_key(openid))
    await pipe.execute()


async def take_seen(redis: aioredis.Redis, worker: str) -> tuple[str, dict[str, float]]:
    """Rename the last-interaction hash away atomically: each batch goes to exactly one process."""
    taken = f"{SEEN_KEY}:flushing:{worker}"
    flat = await redis.eval(_TAKE_SEEN, 2, SEEN_KEY, taken)
    return taken, {flat[i]: float(flat[i + 1]) for i in range(0, len(flat or ()), 2)}


async def give_back_seen(redis: aioredis.Redis, seen: dict[str, float]) -> None:
    """A batch whose write failed goes back; times gathered since then are newer and win."""
    for openid, ts in seen.items():
        await redis.hsetnx(SEEN_KEY, openid, str(ts))


async def drop(redis: aioredis.Redis, key: str) -> None:
    await redis.delete(key)


async def last_seen(redis: aioredis.Redis, openids: list[str]) -> list[str | None]:
    """Last interactions still in Redis (not yet moved to MongoDB), in the order asked."""
    return cast(list[str | None], await redis.hmget(SEEN_KEY, openids))


async def org_cache_built(redis: aioredis.Redis) -> bool:
    return bool(await redis.exists(ORG_CACHE_BUILT))


async def claim_org_cache_rebuild(redis: aioredis.Redis) -> bool:
    return bool(await redis.set(ORG_CACHE_LOCK, "1", nx=True, ex=600))


async def finish_org_cache_rebuild(redis: aioredis.Redis, built: bool) -> None:
    if built:
        await redis.set(ORG_CACHE_BUILT, "1")
    await redis.delete(ORG_CACHE_LOCK)
