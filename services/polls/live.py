"""A poll's live state in Redis: cached rules, counters, per-user ballot counts, and the ballot script.

Keys for poll P in partition N (`T` = `{poll.N}`, storage.keys.entity_shard_tag: one cluster slot for
the poll's keys and its partition's stream):
- `mp:poll:T:P:meta` hash: the rules the ballot script enforces (status, window, options, limits, owner).
- `mp:poll:T:P:counts` hash: option id -> ballots, `_ballots`, `_voters`, and `_init` (present once the
  counters are complete; without it the script refuses and the counters are rebuilt from MongoDB).
- `mp:poll:T:P:u` hash: openid -> ballots in the poll. `mp:poll:T:P:d:<day>` hash: openid -> ballots that day.
- `mp:rl:T:ballot:P:...`: the poll's anti-brushing windows per user and per IP (storage.ratelimit).
- `mp:poll:T:P:idem:<openid>:<key>`: a client's Idempotency-Key -> the answer it got (15 minutes), so a
  retry after a lost answer returns that answer instead of casting again.
Every accepted ballot is appended to the partition's stream `mp:ballots:T` in the same script, so it is
counted and queued for MongoDB in one atomic step: it is either both counted and queued, or neither.
The status and the window are checked by the script itself, so closing a poll holds at once on every
instance (no process's cache decides it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from core.redis_pipe import RedisPipe
from services.polls.ballots_store import SPACE, stream
from storage.batching import ScriptBatcher
from storage.keys import entity_shard_tag
from storage.ratelimit import LUA_CHECK, Limit, window_keys

DAY_KEY_TTL = 3 * 86400
META_FIELDS = ("status", "opens", "closes", "opts", "max", "per", "count", "org", "mo", "rlu", "rli", "exp")

IDEMPOTENCY_TTL = 900  # a client's retry within 15 minutes gets the first answer

# KEYS: meta, counts, user hash, day hash, stream, 4 rate-limit keys (user cur/prev, ip cur/prev),
#       the idempotency key (`...:idem:` when the client sent none: a placeholder in the same slot).
# ARGV: poll id, now ms, day, openid, ",org,path,", is member (1/0), rate weight, ip, n, option ids...
_CAST = (
    LUA_CHECK
    + """
local idem = KEYS[10]
if string.sub(idem, -6) == ':idem:' then idem = '' end  -- the placeholder: the client sent no key
local fp = idem ~= '' and table.concat(ARGV, ',', 10) or ''  -- the options, only to compare retries
if idem ~= '' then
  local prev = redis.call('GET', idem)
  if prev then
    local id, left, pfp = string.match(prev, '^([^\t]*)\t([^\t]*)\t(.*)$')
    if pfp ~= fp then return {'reused'} end
    return {'replay', id, left}
  end
end
local m = redis.call('HMGET', KEYS[1], 'status', 'opens', 'closes', 'opts', 'max', 'per', 'count', 'org', 'mo',
                     'rlu', 'rli', 'exp')
if not m[1] then return {'nometa'} end
if m[1] == 'none' or m[1] == 'draft' or not string.find(ARGV[5], ',' .. m[8] .. ',', 1, true) then
  return {'hidden'}
end
if redis.call('HEXISTS', KEYS[2], '_init') == 0 then return {'nocounts'} end
local now = tonumber(ARGV[2])
if m[1] == 'closed' or (m[3] ~= '' and now >= tonumber(m[3])) then return {'closed'} end
if m[2] ~= '' and now < tonumber(m[2]) then return {'early', m[2]} end
if m[9] == '1' and ARGV[6] ~= '1' then return {'members'} end
local n = tonumber(ARGV[9])
if n > tonumber(m[5]) then return {'toomany', m[5]} end
local seen = {}
for i = 1, n do
  local o = ARGV[9 + i]
  if seen[o] or not string.find(m[4], ',' .. o .. ',', 1, true) then return {'badopt', o} end
  seen[o] = true
end
local openid = ARGV[4]
local limit = tonumber(m[7])
local used
if m[6] == 'day' then
  used = tonumber(redis.call('HGET', KEYS[4], openid) or '0')
else
  used = tonumber(redis.call('HGET', KEYS[3], openid) or '0')
end
if used >= limit then return {'limit', m[7], m[6]} end
local r = rl_check(6, {tonumber(m[10]), tonumber(m[11])}, tonumber(ARGV[7]), 121)
if r > 0 then return {'rate', r} end
local total = redis.call('HINCRBY', KEYS[3], openid, 1)
local seq = total
if total == 1 then
  redis.call('HINCRBY', KEYS[2], '_voters', 1)
  if m[12] ~= '' then redis.call('EXPIREAT', KEYS[3], m[12]) end
end
if m[6] == 'day' then
  seq = redis.call('HINCRBY', KEYS[4], openid, 1)
  if seq == 1 then redis.call('EXPIRE', KEYS[4], """
    + str(DAY_KEY_TTL)
    + """) end
end
local opts = {}
for i = 1, n do
  opts[i] = ARGV[9 + i]
  redis.call('HINCRBY', KEYS[2], ARGV[9 + i], 1)
end
redis.call('HINCRBY', KEYS[2], '_ballots', 1)
local id = ARGV[1] .. ':' .. openid .. ':' .. ARGV[3] .. ':' .. seq
redis.call('XADD', KEYS[5], '*', 'b', table.concat({id, ARGV[1], openid, ARGV[3], seq, table.concat(opts, ','),
           ARGV[2], ARGV[8]}, '\t'))
if idem ~= '' then
  redis.call('SET', idem, id .. '\t' .. (limit - used - 1) .. '\t' .. fp, 'EX', """
    + str(IDEMPOTENCY_TTL)
    + """)
end
return {'ok', id, limit - used - 1}
"""
)


@dataclass(frozen=True)
class CastResult:
    outcome: str  # ok, replay, reused, nometa, nocounts, hidden, closed, early, members, toomany, badopt, limit, rate
    detail: list[str]


def key(poll_id: str, part: str) -> str:
    """A key of the poll (`meta`, `counts`, `u`, `d:<day>`, ...): its partition's tag, then its id."""
    return f"mp:poll:{entity_shard_tag(SPACE, poll_id)}:{poll_id}:{part}"


class PollLive:
    def __init__(self, redis: aioredis.Redis, pipe: RedisPipe) -> None:
        self.redis = redis
        self._cast = ScriptBatcher(pipe, _CAST)  # the hot path: concurrent ballots share a round trip

    async def cast(
        self, poll_id: str, openid: str, options: list[str], *, now_ms: int, day: str, org_path: tuple[str, ...],
        is_member: bool, ip: str, idempotency_key: str = "",
    ) -> CastResult:  # fmt: skip
        # The poll's own limits are in meta; the subjects here are only placeholders for the key names.
        tag = entity_shard_tag(SPACE, poll_id)
        rl_keys, weight = window_keys(
            f"ballot:{poll_id}", [Limit("user", openid, 1), Limit("ip", ip or "-", 1)], 60, now_ms / 1000, tag=tag
        )
        p = f"mp:poll:{tag}:{poll_id}:"
        keys = [p + "meta", p + "counts", p + "u", f"{p}d:{day}", stream(tag), *rl_keys,
                f"{p}idem:{openid}:{idempotency_key}" if idempotency_key else p + "idem:"]  # fmt: skip
        path = "," + ",".join(org_path) + ","
        args = [poll_id, now_ms, day, openid, path, "1" if is_member else "0", f"{weight:.4f}", ip, len(options)]
        answer = await self._cast(keys=keys, args=[*args, *options])
        return CastResult(str(answer[0]), [str(x) for x in answer[1:]])

    async def write_meta(self, poll_id: str, meta: dict[str, Any], expire_at: int | None) -> None:
        mkey = key(poll_id, "meta")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(mkey)
            pipe.hset(mkey, mapping={k: str(meta[k]) for k in META_FIELDS})
            if expire_at:
                pipe.expireat(mkey, expire_at)
                pipe.expireat(key(poll_id, "counts"), expire_at)
                pipe.expireat(key(poll_id, "u"), expire_at)
            await pipe.execute()

    async def init_counts(self, poll_id: str, option_ids: list[str], expire_at: int | None) -> None:
        """A new poll's counters: zero for every option. Never overwrites existing counters."""
        ckey = key(poll_id, "counts")
        async with self.redis.pipeline(transaction=True) as pipe:
            for oid in option_ids:
                pipe.hsetnx(ckey, oid, 0)
            pipe.hsetnx(ckey, "_ballots", 0)
            pipe.hsetnx(ckey, "_voters", 0)
            pipe.hset(ckey, "_init", 1)
            if expire_at:
                pipe.expireat(ckey, expire_at)
            await pipe.execute()

    async def add_options(self, poll_id: str, option_ids: list[str]) -> None:
        ckey = key(poll_id, "counts")
        if await self.redis.hexists(ckey, "_init"):
            for oid in option_ids:
                await self.redis.hsetnx(ckey, oid, 0)

    async def mark_missing(self, poll_id: str, ttl: int = 60) -> None:
        """Remember for a minute that no such poll exists, so guessed ids do not each cost a MongoDB read."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key(poll_id, "meta"), mapping={"status": "none", "org": ""})
            pipe.expire(key(poll_id, "meta"), ttl)
            await pipe.execute()

    async def counts(self, poll_id: str) -> dict[str, int] | None:
        """Option id -> ballots plus `_ballots`, `_voters`; None when the counters must be rebuilt."""
        raw: dict[str, str] = await self.redis.hgetall(key(poll_id, "counts"))  # type: ignore[assignment]
        if "_init" not in raw:
            return None
        return {k: int(v) for k, v in raw.items() if k != "_init"}

    async def many_counts(self, poll_ids: list[str]) -> list[dict[str, int] | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for pid in poll_ids:
                pipe.hgetall(key(pid, "counts"))
            raws = await pipe.execute()
        return [{k: int(v) for k, v in r.items() if k != "_init"} if "_init" in r else None for r in raws]

    async def used(self, poll_id: str, openid: str, day: str, per: str) -> int:
        hkey = key(poll_id, f"d:{day}") if per == "day" else key(poll_id, "u")
        return int(await self.redis.hget(hkey, openid) or 0)

    async def drop_counts(self, poll_id: str) -> None:
        await self.redis.hdel(key(poll_id, "counts"), "_init")

    async def restore(
        self, poll_id: str, counts: dict[str, int], users: dict[str, int], day: str, day_users: dict[str, int],
        expire_at: int | None, chunk: int = 5_000,
    ) -> None:  # fmt: skip
        """Replace the poll's counters with ones rebuilt from MongoDB; `_init` is written last."""
        ukey, dkey, ckey = key(poll_id, "u"), key(poll_id, f"d:{day}"), key(poll_id, "counts")
        await self.redis.delete(ckey, ukey, dkey)
        for hkey, values in ((ukey, users), (dkey, day_users)):
            items = list(values.items())
            for start in range(0, len(items), chunk):
                await self.redis.hset(hkey, mapping=dict(items[start : start + chunk]))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(ckey, mapping={**{k: str(v) for k, v in counts.items()}, "_init": "1"})
            if day_users:
                pipe.expire(dkey, DAY_KEY_TTL)
            if expire_at:
                pipe.expireat(ckey, expire_at)
                if users:
                    pipe.expireat(ukey, expire_at)
            await pipe.execute()

    async def lock(self, poll_id: str, owner: str, ttl_ms: int) -> bool:
        return bool(await self.redis.set(key(poll_id, "rebuild"), owner, nx=True, px=ttl_ms))

    async def unlock(self, poll_id: str, owner: str) -> None:
        lock = key(poll_id, "rebuild")
        if await self.redis.get(lock) == owner:
            await self.redis.delete(lock)
