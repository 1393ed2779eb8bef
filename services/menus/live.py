"""The menus' Redis side: queues of followers waiting for a city's menu tag (or its removal).

`menu:{menu:tagq}:<city>` / `menu:{menu:untagq}:<city>` hold openids; `menu:{menu:tagq}` /
`menu:{menu:untagq}` the cities with a queue (one hash tag per kind: the script that forgets an
empty city reads the city's queue and writes the set, one Redis Cluster slot; followers bind a few
at a time, so one slot per kind carries it); `menu:<kind>:<city>:lease` the one drainer of a queue.

The previous release's untagged names (`menu:tagq`, `menu:tagq:<city>`) are moved into these by the
drainer until none is left (`adopt_legacy`).
"""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis

from core.lease import Lease
from storage.keys import entity_tag

TAG, UNTAG = "tagq", "untagq"

# Forget the city only while its queue is empty, atomically: a bind racing with the drain keeps it.
_FORGET_IF_EMPTY = """
if redis.call('SCARD', KEYS[2]) == 0 then return redis.call('SREM', KEYS[1], ARGV[1]) end
return 0
"""


def cities_key(kind: str) -> str:
    return f"menu:{entity_tag('menu', kind)}"


def queue_key(kind: str, city: str) -> str:
    return f"menu:{entity_tag('menu', kind)}:{city}"


async def enqueue(redis: aioredis.Redis, openid: str, changes: list[tuple[str, str]]) -> None:
    """Queue `openid` for each (kind, city) in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for kind, city in changes:
        pipe.sadd(queue_key(kind, city), openid)
        pipe.sadd(cities_key(kind), city)
    await pipe.execute()


async def queued_cities(redis: aioredis.Redis, kind: str) -> list[str]:
    return sorted(cast(set[str], await redis.smembers(cities_key(kind))))


def drain_lease(redis: aioredis.Redis, kind: str, city: str, ttl: float) -> Lease:
    return Lease(redis, f"{queue_key(kind, city)}:lease", ttl=ttl)


async def adopt_legacy(redis: aioredis.Redis, kind: str) -> int:
    """Move followers queued under the previous release's names into the queues (one EXISTS when none).

    Sets: adding twice is harmless, so each city's members are added here before they leave there;
    a crash in between only repeats the move."""
    old_cities = f"menu:{kind}"
    if not await redis.exists(old_cities):
        return 0
    moved = 0
    for city in cast(set[str], await redis.smembers(old_cities)):
        old_queue = f"menu:{kind}:{city}"
        members = cast(list[str], list(await redis.smembers(old_queue)))
        if members:
            await redis.sadd(queue_key(kind, city), *members)
            await redis.sadd(cities_key(kind), city)
            await redis.srem(old_queue, *members)
            moved += len(members)
        if not await redis.exists(old_queue):
            await redis.srem(old_cities, city)
    return moved


async def peek(redis: aioredis.Redis, kind: str, city: str, count: int) -> list[str]:
    """Up to `count` queued openids, left in the queue until `remove` (a crash loses nothing)."""
    return cast(list[str], await redis.srandmember(queue_key(kind, city), count) or [])


async def remove(redis: aioredis.Redis, kind: str, city: str, openids: list[str]) -> None:
    await redis.srem(queue_key(kind, city), *openids)


async def forget_city_if_empty(redis: aioredis.Redis, kind: str, city: str) -> None:
    await redis.eval(_FORGET_IF_EMPTY, 2, cities_key(kind), queue_key(kind, city), city)
