"""The Redis side of birthdays: each policy org's yearly budget as one guarded counter.

`bday:{<org>:<year>}:meta` hash {budget, spent}, `bday:{<org>:<year>}:in` set of charged members. One Lua
script charges a member once and only while `spent + value <= budget`, so concurrent runs can never
exceed the budget. No `meta` = lost: rebuilt from MongoDB's claims (set first, meta last).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from core.deps import Deps

_CHARGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'lost' end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 'already' end
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent'))
if spent + tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], 'budget')) then return 'over' end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'spent', ARGV[2])
return 'ok'
"""

# Only when still missing: a concurrent rebuild, or charges made after one, are never overwritten.
_RESTORE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'budget', ARGV[1], 'spent', ARGV[2])
return 1
"""

_UNCHARGE = """
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'spent', -tonumber(ARGV[2])) end
return 1
"""


def _k(org: str, year: int, part: str) -> str:
    return f"bday:{{{org}:{year}}}:{part}"


async def charge(deps: Deps, org: str, year: int, member_id: str, value_cents: int) -> str:
    keys = [_k(org, year, "meta"), _k(org, year, "in")]
    return str(await deps.redis.eval(_CHARGE, 2, *keys, member_id, value_cents))


async def uncharge(deps: Deps, org: str, year: int, member_id: str, value_cents: int) -> None:
    await deps.redis.eval(_UNCHARGE, 2, _k(org, year, "meta"), _k(org, year, "in"), member_id, value_cents)


async def exists(deps: Deps, org: str, year: int) -> bool:
    return bool(await deps.redis.exists(_k(org, year, "meta")))


async def rebuild(deps: Deps, org: str, year: int, budget: int, charged: Sequence[tuple[str, int]]) -> None:
    if charged:
        await deps.redis.sadd(_k(org, year, "in"), *[m for m, _ in charged])
    spent = sum(v for _, v in charged)
    await deps.redis.eval(_RESTORE, 1, _k(org, year, "meta"), budget, spent)


async def set_budget(deps: Deps, org: str, year: int, budget: int) -> None:
    if await exists(deps, org, year):
        await deps.redis.hset(_k(org, year, "meta"), "budget", budget)


async def spent(deps: Deps, org: str, year: int) -> int | None:
    value = await deps.redis.hget(_k(org, year, "meta"), "spent")
    return int(value) if value is not None else None


def _run_marker(day: str) -> str:
    return f"bday:run:{day}"


async def ran_on(redis: aioredis.Redis, day: str) -> bool:
    """Whether the daily run of `day` (ISO date) finished on any instance."""
    return bool(await redis.exists(_run_marker(day)))


async def mark_ran(redis: aioredis.Redis, day: str) -> None:
    await redis.set(_run_marker(day), "1", ex=2 * 86400)
