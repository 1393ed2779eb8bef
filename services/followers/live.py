"""The followers' Redis side: what the message path reads per message without touching MongoDB.

Partitioned for Redis Cluster by follower: openid o lives in partition `shard_of(o)`, tag
`{msg.N}` = `follower_tag(o)` (storage/keys.py), the same tag as the message's dedupe keys
(wechat_bot/dedupe.py), so one message's round trip touches one slot:
- `msg:fo:{msg.N}` openid -> org path of bound followers (MongoDB stays the source of truth; the
  hashes are rebuilt from it when Redis lost them; `msg:fo:v2:built` marks a finished rebuild);
- `msg:seen:{msg.N}` openid -> last interaction (unix time), moved to MongoDB every 30 s in batches
  (each partition renamed away to `msg:seen:{msg.N}:flushing:<worker>`, same slot);
- `msg:loc:<openid>` one location reply per location event burst.

Before the partitions there was one `msg:fo` and one `msg:seen`: the org cache is rebuilt under the
new marker (and the old hash dropped), and the flusher drains the old `msg:seen` until it is empty.
"""

from __future__ import annotations

from collections import defaultdict

import redis.asyncio as aioredis

from storage.keys import all_shard_tags, entity_shard_tag

SPACE = "msg"
ORG_CACHE_BUILT = "msg:fo:v2:built"
ORG_CACHE_LOCK = "msg:fo:building"
LEGACY_ORG_KEY = "msg:fo"
LEGACY_SEEN_KEY = "msg:seen"

_TAKE_SEEN = """
if redis.call('exists', KEYS[1]) == 0 then return {} end
redis.call('rename', KEYS[1], KEYS[2])
return redis.call('hgetall', KEYS[2])
"""


def follower_tag(openid: str) -> str:
    return entity_shard_tag(SPACE, openid)


def org_key(openid: str) -> str:
    return f"msg:fo:{follower_tag(openid)}"


def seen_key(openid: str) -> str:
    return f"msg:seen:{follower_tag(openid)}"


def _by_partition(openids: list[str]) -> dict[str, list[str]]:
    parts: dict[str, list[str]] = defaultdict(list)
    for openid in openids:
        parts[follower_tag(openid)].append(openid)
    return parts


def location_key(openid: str) -> str:
    return f"msg:loc:{openid}"


async def first_location_reply(redis: aioredis.Redis, openid: str, seconds: int) -> bool:
    """True for the first location event of `openid` within `seconds` (the one that gets a reply)."""
    return bool(await redis.set(location_key(openid), "1", nx=True, ex=seconds))


async def set_org_path(redis: aioredis.Redis, openid: str, path: tuple[str, ...] | list[str]) -> None:
    await redis.hset(org_key(openid), openid, ",".join(path))


async def set_org_paths(redis: aioredis.Redis, paths: dict[str, str]) -> None:
    pipe = redis.pipeline(transaction=False)
    for tag, openids in _by_partition(list(paths)).items():
        pipe.hset(f"msg:fo:{tag}", mapping={o: paths[o] for o in openids})
    await pipe.execute()


async def forget(redis: aioredis.Redis, openid: str) -> None:
    """Everything the message path holds about a follower who left."""
    pipe = redis.pipeline(transaction=False)
    pipe.hdel(org_key(openid), openid)
    pipe.hdel(seen_key(openid), openid)
    pipe.hdel(LEGACY_SEEN_KEY, openid)  # until the old hash is drained: a flush must not bring it back
    pipe.delete(location_key(openid))
    await pipe.execute()


def seen_partitions() -> list[str]:
    """Every last-interaction hash the flusher empties: the partitions, and the old global one."""
    return [f"msg:seen:{tag}" for tag in all_shard_tags(SPACE)] + [LEGACY_SEEN_KEY]


async def take_seen(redis: aioredis.Redis, key: str, worker: str) -> tuple[str, dict[str, float]]:
    """Rename one partition away atomically: each batch goes to exactly one process."""
    # `{msg:seen}:...` hashes like the untagged old `msg:seen`, so its rename stays in one slot too.
    taken = f"{key}:flushing:{worker}" if "{" in key else f"{{{key}}}:flushing:{worker}"
    flat = await redis.eval(_TAKE_SEEN, 2, key, taken)
    return taken, {flat[i]: float(flat[i + 1]) for i in range(0, len(flat or ()), 2)}


async def give_back_seen(redis: aioredis.Redis, seen: dict[str, float]) -> None:
    """A batch whose write failed goes back; times gathered since then are newer and win."""
    pipe = redis.pipeline(transaction=False)
    for openid, ts in seen.items():
        pipe.hsetnx(seen_key(openid), openid, str(ts))
    await pipe.execute()


async def drop(redis: aioredis.Redis, key: str) -> None:
    await redis.delete(key)


async def last_seen(redis: aioredis.Redis, openids: list[str]) -> list[str | None]:
    """Last interactions still in Redis (not yet moved to MongoDB), in the order asked."""
    parts = _by_partition(openids)
    pipe = redis.pipeline(transaction=False)
    for tag, members in parts.items():
        pipe.hmget(f"msg:seen:{tag}", members)
    found: dict[str, str | None] = {}
    for members, values in zip(parts.values(), await pipe.execute(), strict=True):
        found.update(zip(members, values, strict=True))
    return [found[o] for o in openids]


async def org_cache_built(redis: aioredis.Redis) -> bool:
    return bool(await redis.exists(ORG_CACHE_BUILT))


async def claim_org_cache_rebuild(redis: aioredis.Redis) -> bool:
    return bool(await redis.set(ORG_CACHE_LOCK, "1", nx=True, ex=600))


async def finish_org_cache_rebuild(redis: aioredis.Redis, built: bool) -> None:
    if built:
        await redis.set(ORG_CACHE_BUILT, "1")
        await redis.unlink(LEGACY_ORG_KEY)  # the pre-partition cache, rebuilt into the partitions
    await redis.delete(ORG_CACHE_LOCK)


async def forget_org_cache(redis: aioredis.Redis) -> None:
    """Drop the org cache (every partition) and its marker: the next housekeeping turn rebuilds it."""
    await redis.delete(ORG_CACHE_BUILT)
    for tag in all_shard_tags(SPACE):
        await redis.delete(f"msg:fo:{tag}")
