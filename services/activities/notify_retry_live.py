"""Confirmations waiting to be retried: WeChat was not reached or was busy, so nothing was delivered.

A confirmation leaves its partition's stream before it is sent (at most once). When the send fails in a
way that proves non-delivery, it waits in the partition's `mp:su:notify:later:{act.N}` (a sorted set
scored by when to try again) and a Lua script moves it back into the partition's stream once due (both
keys in one slot): it is always in exactly one place, so it is retried, never sent twice. The
pre-partition `mp:su:notify:later` is moved into the pre-partition stream until it is empty.
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from services.activities.legacy_live import OLD_LATER, OLD_NOTIFY
from services.activities.live import TAGS, notify_key, split_id, tag_of

_MOVE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local item = cjson.decode(member)
  redis.call('XADD', KEYS[2], '*', 'id', item['id'], 'kind', item['kind'], 'attempt', tostring(item['attempt']))
end
return #due
"""


def later_key(tag: str) -> str:
    return f"mp:su:notify:later:{tag}"


PAIRS = [(later_key(tag), notify_key(tag)) for tag in TAGS] + [(OLD_LATER, OLD_NOTIFY)]


async def later(redis: aioredis.Redis, signup_id: str, kind: str, attempt: int, due_ms: int) -> None:
    member = json.dumps({"id": signup_id, "kind": kind, "attempt": attempt}, separators=(",", ":"))
    await redis.zadd(later_key(tag_of(split_id(signup_id)[0])), {member: due_ms})


async def move_due(redis: aioredis.Redis, now_ms: int, count: int = 100) -> int:
    """Put confirmations whose retry time has come back into their streams; returns how many."""
    async with redis.pipeline(transaction=False) as pipe:
        for zset, _ in PAIRS:
            pipe.zcount(zset, "-inf", now_ms)
        due = await pipe.execute()
    moved = 0
    for (zset, stream), n in zip(PAIRS, due, strict=True):
        if n:
            moved += int(await redis.eval(_MOVE_DUE, 2, zset, stream, now_ms, count))
    return moved


async def waiting(redis: aioredis.Redis) -> int:
    async with redis.pipeline(transaction=False) as pipe:
        for zset, _ in PAIRS:
            pipe.zcard(zset)
        return sum(int(n) for n in await pipe.execute())
