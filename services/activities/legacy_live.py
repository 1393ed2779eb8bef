"""The sign-up keys of releases before the partitioned layout, read only to drain them.

Before Redis Cluster support, sign-ups lived in `mp:act:{A}:su:<seq>` hashes, changed ids waited in one
global `mp:su:dirty` zset and confirmations in one `mp:su:notify` stream (retries in
`mp:su:notify:later`). After an upgrade in place (same Redis), the flusher and the notifier keep
draining these until they are empty, so nothing an older release acknowledged is lost; new sign-ups
never use them. The scripts here span several slots: they only ever run where those keys exist,
which is a standalone Redis (a cluster starts empty).
"""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis

from services.activities.live import decode, split_id

OLD_DIRTY = "mp:su:dirty"
OLD_NOTIFY = "mp:su:notify"
OLD_LATER = "mp:su:notify:later"

# KEYS: the old dirty set, then the sign-up hashes. ARGV: triples of id, index of its hash in KEYS, version.
_ACK = """
local n = 0
for i = 1, #ARGV, 3 do
  local h = KEYS[tonumber(ARGV[i + 1])]
  local v = redis.call('HGET', h, 'v')
  if not v or v == ARGV[i + 2] then
    redis.call('ZREM', KEYS[1], ARGV[i])
    n = n + 1
  end
  if v then redis.call('HSET', h, 'fv', ARGV[i + 2]) end
end
return n
"""


def old_hash(signup_id: str) -> str:
    aid, seq = split_id(signup_id)
    return f"mp:act:{{{aid}}}:su:{seq}"


async def dirty_count(redis: aioredis.Redis) -> int:
    return int(await redis.zcard(OLD_DIRTY))


async def dirty_batch(redis: aioredis.Redis, limit: int) -> list[str]:
    return cast(list[str], await redis.zrange(OLD_DIRTY, 0, limit - 1))


async def dirty_of(redis: aioredis.Redis, aid: str) -> list[str]:
    if not await redis.exists(OLD_DIRTY):
        return []
    return [m async for m, _ in redis.zscan_iter(OLD_DIRTY, match=f"{aid}-*", count=1000)]


async def get_many(redis: aioredis.Redis, signup_ids: list[str]) -> dict[str, dict[str, Any]]:
    async with redis.pipeline(transaction=False) as pipe:
        for sid in signup_ids:
            pipe.hgetall(old_hash(sid))
        rows = await pipe.execute()
    return {sid: decode(row) for sid, row in zip(signup_ids, rows, strict=True) if row}


async def ack(redis: aioredis.Redis, written: list[tuple[str, int]]) -> int:
    if not written:
        return 0
    keys = [OLD_DIRTY] + [old_hash(sid) for sid, _ in written]
    args: list[Any] = []
    for i, (sid, version) in enumerate(written):
        args += [sid, i + 2, version]
    return int(await redis.eval(_ACK, len(keys), *keys, *args))
