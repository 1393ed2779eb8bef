"""Confirmations waiting to be retried: WeChat was not reached or was busy, so nothing was delivered.

A confirmation leaves the `mp:su:notify` stream before it is sent (at most once). When the send fails
in a way that proves non-delivery, it waits here (`mp:su:notify:later`, a sorted set scored by when to
try again) and a Lua script moves it back into the stream once due: it is always in exactly one place,
so it is retried, never sent twice.
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from services.activities.live import NOTIFY

LATER = "mp:su:notify:later"

_MOVE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local item = cjson.decode(member)
  redis.call('XADD', KEYS[2], '*', 'id', item['id'], 'kind', item['kind'], 'attempt', tostring(item['attempt']))
end
return #due
"""


async def later(redis: aioredis.Redis, signup_id: str, kind: str, attempt: int, due_ms: int) -> None:
    member = json.dumps({"id": signup_id, "kind": kind, "attempt": attempt}, separators=(",", ":"))
    await redis.zadd(LATER, {member: due_ms})


async def move_due(redis: aioredis.Redis, now_ms: int, count: int = 100) -> int:
    """Put confirmations whose retry time has come back into the stream; returns how many."""
    return int(await redis.eval(_MOVE_DUE, 2, LATER, NOTIFY, now_ms, count))


async def waiting(redis: aioredis.Redis) -> int:
    return int(await redis.zcard(LATER))
