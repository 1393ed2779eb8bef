"""The roster: every subscribed follower, by org, in Redis sorted sets a push audience is cut from.

MongoDB (`followers`) stays the source of truth; the roster mirrors who is subscribed and where
they are bound, so a push to a province or a city reads its audience from Redis (one ZRANGE per
thousand recipients, spread over the cluster's masters) instead of walking MongoDB per recipient.

Partitioned like the rest of the follower state, by openid (`{msg.N}` = services.followers.live
.follower_tag), so one follower's change is one script in one slot:
- `msg:ro:{msg.N}:o:<org>` sorted set (score 0, lexicographic): subscribed followers whose org path
  contains `<org>`; `<org>` = `*` holds every subscribed follower, bound or not (the province's
  audience: the province itself has no set of its own);
- `msg:ro:{msg.N}:who` hash openid -> org path (comma-joined, "" unbound): what the script removes
  when the follower moves or leaves; `-` marks one who left while the roster was being rebuilt;
- `msg:ro:{msg.N}:orgs` set of the orgs that have a sorted set here (what a rebuild clears);
- `msg:ro:{msg.N}:dirty` sorted set openid -> when a change began (ms). A change is marked before
  MongoDB is written and unmarked when the roster has it, so a process that dies in between leaves
  the mark, and the heal turn (services.followers.following.heal_roster) re-reads MongoDB for it;
- `msg:ro:{msg.N}:building` present while a rebuild fills the partition;
- `msg:ro:built` the roster is complete (a rebuild from MongoDB finished since Redis last lost it);
  its value names the rebuild (its generation). Until it exists, audiences are cut from MongoDB.

The scripts touch the org sets named by the paths they read (`who`); those keys are not in KEYS, but
they carry the partition's tag, so they live in the script's slot.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from services.followers.live import SPACE, follower_tag
from services.orgs.store import PROVINCE_CODE
from storage.keys import all_shard_tags

ALL = "*"
LEFT = "-"
BUILT = "msg:ro:built"
BUILD_LOCK = "msg:ro:rebuilding"
PARTITIONS = len(all_shard_tags(SPACE))

# KEYS: who, dirty, building, orgs. ARGV: org-set prefix, mode, then (openid, path | "-", token) triples.
# mode "set": apply; "fill": only for an openid the roster has no entry for (a rebuild, an upsert);
# "heal": only while the openid's dirty mark is still `token`. A token clears the mark it matches.
_APPLY = """
local who, dirty, building, orgs = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, mode = ARGV[1], ARGV[2]
local applied = 0
for i = 3, #ARGV, 3 do
  local openid, new, token = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local go = true
  if mode == 'heal' then
    local mark = redis.call('zscore', dirty, openid)
    go = mark ~= false and tonumber(mark) == tonumber(token)
  end
  local old = redis.call('hget', who, openid)
  if go and mode == 'fill' and old then go = false end
  if go then
    if old and old ~= '-' then
      redis.call('zrem', prefix .. '*', openid)
      for org in string.gmatch(old, '[^,]+') do redis.call('zrem', prefix .. org, openid) end
    end
    if new == '-' then
      if redis.call('exists', building) == 1 then redis.call('hset', who, openid, '-')
      else redis.call('hdel', who, openid) end
    else
      redis.call('hset', who, openid, new)
      redis.call('zadd', prefix .. '*', 0, openid)
      for org in string.gmatch(new, '[^,]+') do
        redis.call('zadd', prefix .. org, 0, openid)
        redis.call('sadd', orgs, org)
      end
    end
    applied = applied + 1
  end
  if token ~= '' and mode ~= 'fill' then
    local mark = redis.call('zscore', dirty, openid)
    if mark and tonumber(mark) == tonumber(token) then redis.call('zrem', dirty, openid) end
  end
end
return applied
"""

# KEYS: who, dirty, orgs, building. ARGV: org-set prefix. Empties the partition (a rebuild's start).
_CLEAR = """
local prefix = ARGV[1]
for _, org in ipairs(redis.call('smembers', KEYS[3])) do redis.call('unlink', prefix .. org) end
redis.call('unlink', prefix .. '*', KEYS[1], KEYS[3])
redis.call('set', KEYS[4], '1')
return 1
"""


def tag_of(partition: int) -> str:
    return all_shard_tags(SPACE)[partition]


def partition_of(openid: str) -> int:
    return all_shard_tags(SPACE).index(follower_tag(openid))


def _keys(tag: str) -> list[str]:
    return [f"msg:ro:{tag}:who", f"msg:ro:{tag}:dirty", f"msg:ro:{tag}:building", f"msg:ro:{tag}:orgs"]


def _prefix(tag: str) -> str:
    return f"msg:ro:{tag}:o:"


def org_key(partition: int, org: str) -> str:
    return f"{_prefix(tag_of(partition))}{org}"


def _encode(path: Sequence[str] | None) -> str:
    """The path as the roster keeps it: without the province, whose followers are `*` (everyone)."""
    return LEFT if path is None else ",".join(o for o in path if o != PROVINCE_CODE)


async def _apply(redis: aioredis.Redis, mode: str, changes: Iterable[tuple[str, Sequence[str] | None, str]]) -> int:
    """(openid, org path | None for "not subscribed", token) changes, one script per partition."""
    parts: dict[str, list[str]] = defaultdict(list)
    for openid, path, token in changes:
        parts[follower_tag(openid)] += [openid, _encode(path), token]
    applied = 0
    for tag, args in parts.items():
        applied += int(await redis.eval(_APPLY, 4, *_keys(tag), _prefix(tag), mode, *args))
    return applied


# --- a follower's change -----------------------------------------------------------------------
async def begin(redis: aioredis.Redis, openid: str) -> str:
    """Mark a change as under way (before MongoDB is written); the token ends it in `settle`."""
    token = str(int(time.time() * 1000))
    await redis.zadd(f"msg:ro:{follower_tag(openid)}:dirty", {openid: token})
    return token


async def settle(redis: aioredis.Redis, openid: str, path: Sequence[str] | None, token: str) -> None:
    """The roster takes the follower's state as MongoDB now has it (None: not subscribed)."""
    await _apply(redis, "set", [(openid, path, token)])


async def fill(redis: aioredis.Redis, paths: Mapping[str, Sequence[str]]) -> int:
    """Subscribed followers the roster has no entry for (a rebuild's batch, a follower first seen by
    an upsert); an entry already there is newer and wins."""
    return await _apply(redis, "fill", [(o, p, "") for o, p in paths.items()])


async def heal(redis: aioredis.Redis, states: Mapping[str, tuple[Sequence[str] | None, str]]) -> int:
    """States re-read from MongoDB for marks left behind; applied only where the mark is unchanged."""
    return await _apply(redis, "heal", [(o, path, token) for o, (path, token) in states.items()])


async def stale_marks(redis: aioredis.Redis, older_than: float, limit: int = 500) -> dict[str, str]:
    """openid -> token of changes begun more than `older_than` seconds ago and never settled."""
    before = int((time.time() - older_than) * 1000)
    found: dict[str, str] = {}
    for tag in all_shard_tags(SPACE):
        rows: list[Any] = await redis.zrangebyscore(
            f"msg:ro:{tag}:dirty", "-inf", before, start=0, num=limit, withscores=True
        )
        found.update({_text(o): str(int(s)) for o, s in rows})
    return found


# --- rebuild -------------------------------------------------------------------------------------
async def built(redis: aioredis.Redis) -> bool:
    return bool(await redis.exists(BUILT))


async def generation(redis: aioredis.Redis) -> str | None:
    """Which rebuild the roster comes from (None: not complete). A reader that sees the same value
    before and after reading knows the roster was complete throughout."""
    value = await redis.get(BUILT)
    return _text(value) if value is not None else None


async def claim_rebuild(redis: aioredis.Redis, seconds: int) -> bool:
    return bool(await redis.set(BUILD_LOCK, "1", nx=True, ex=seconds))


async def renew_rebuild(redis: aioredis.Redis, seconds: int) -> None:
    await redis.expire(BUILD_LOCK, seconds)


async def start_rebuild(redis: aioredis.Redis) -> None:
    """Empty every partition and mark it as being built (changes meanwhile keep "left" marks)."""
    for tag in all_shard_tags(SPACE):
        who, _, building, orgs = _keys(tag)
        await redis.eval(_CLEAR, 4, who, f"msg:ro:{tag}:dirty", orgs, building, _prefix(tag))


async def finish_rebuild(redis: aioredis.Redis, done: bool) -> None:
    if done:
        for tag in all_shard_tags(SPACE):
            await redis.delete(f"msg:ro:{tag}:building")
        await redis.set(BUILT, str(time.time_ns()))
    await redis.delete(BUILD_LOCK)


async def forget(redis: aioredis.Redis) -> None:
    """The roster is no longer trusted: audiences come from MongoDB until it is rebuilt."""
    await redis.delete(BUILT)


# --- reading -------------------------------------------------------------------------------------
async def sizes(redis: aioredis.Redis, orgs: Sequence[str]) -> list[int]:
    """Per partition: followers in the union of `orgs`' sets, over-counted where the orgs nest."""
    pipe = redis.pipeline(transaction=False)
    for p in range(PARTITIONS):
        for org in orgs:
            pipe.zcard(org_key(p, org))
    counts = await pipe.execute()
    k = len(orgs)
    return [sum(int(c) for c in counts[p * k : (p + 1) * k]) for p in range(PARTITIONS)]


async def bounds(redis: aioredis.Redis, partition: int, org: str) -> tuple[str, str] | None:
    """The lowest and highest openid of one org's set in a partition."""
    key = org_key(partition, org)
    low = await redis.zrange(key, 0, 0)
    high = await redis.zrange(key, -1, -1)
    return (_text(low[0]), _text(high[0])) if low and high else None


async def page(
    redis: aioredis.Redis, partition: int, org: str, after: str | None, upto: str | None, limit: int
) -> list[str]:
    """Up to `limit` openids of `org` in a partition with `after` < openid <= `upto`, in order."""
    lo = f"({after}" if after is not None else "-"
    hi = f"[{upto}" if upto is not None else "+"
    rows = await redis.zrange(org_key(partition, org), lo, hi, bylex=True, offset=0, num=limit)
    return [_text(o) for o in rows]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
