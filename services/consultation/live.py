"""The Redis side of consultation (the only module that knows these keys).

- `consult:day:<person>:<yyyymmdd>`: new cases today, taken by one Lua script that refuses the
  6th (and given back when the case was then refused by the database).
- `consult:cs:<oa openid>:<window start>`: customer-service sends within one 48-hour window
  (WeChat allows 5); taken atomically before each send.
- `consult:draft:<oa openid>`: what a worker wrote to the account after a consult keyword,
  waiting for their 确认 (30 minutes).
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis.asyncio as aioredis

DAILY_LIMIT = 5
CS_PER_WINDOW = 5
DRAFT_SECONDS = 1800

_TAKE = """
local n = redis.call('incr', KEYS[1])
if n == 1 then redis.call('expire', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  redis.call('decr', KEYS[1])
  return -1
end
return n
"""
_GIVE_BACK = """
local n = tonumber(redis.call('get', KEYS[1]) or '0')
if n > 0 then return redis.call('decr', KEYS[1]) end
return 0
"""


def _day_key(person: str, day: str) -> str:
    return f"consult:day:{person}:{day}"


async def take_daily(r: aioredis.Redis, person: str, day: str, limit: int = DAILY_LIMIT) -> bool:
    """One of today's new cases for `person`; False when the limit is reached."""
    n = await cast(Any, r.eval(_TAKE, 1, _day_key(person, day), limit, 2 * 86400))
    return int(n) > 0


async def give_back_daily(r: aioredis.Redis, person: str, day: str) -> None:
    await cast(Any, r.eval(_GIVE_BACK, 1, _day_key(person, day)))


async def take_cs_send(r: aioredis.Redis, openid: str, window_start: int) -> bool:
    """One customer-service send in the window that started at `window_start` (unix seconds)."""
    key = f"consult:cs:{openid}:{window_start}"
    n = await cast(Any, r.eval(_TAKE, 1, key, CS_PER_WINDOW, 49 * 3600))
    return int(n) > 0


async def save_draft(r: aioredis.Redis, openid: str, draft: dict[str, Any]) -> None:
    await r.set(f"consult:draft:{openid}", json.dumps(draft, ensure_ascii=False), ex=DRAFT_SECONDS)


async def take_draft(r: aioredis.Redis, openid: str) -> dict[str, Any] | None:
    """The pending draft, removed in the same command (a repeated 确认 opens one case)."""
    raw = await r.getdel(f"consult:draft:{openid}")
    return cast(dict[str, Any], json.loads(raw)) if raw else None


async def put_back_draft(r: aioredis.Redis, openid: str, draft: dict[str, Any]) -> None:
    await r.set(f"consult:draft:{openid}", json.dumps(draft, ensure_ascii=False), ex=DRAFT_SECONDS, nx=True)


async def drop_draft(r: aioredis.Redis, openid: str) -> None:
    await r.delete(f"consult:draft:{openid}")
