"""The Redis side of learning progress: key layout and the Lua scripts that decide every heartbeat.

Keys: the heartbeat script also marks the unit in the write-behind queue, so for Redis Cluster the
queue is cut into partitions and a learner's keys carry the learner's partition tag T =
`entity_shard_tag("ln", openid)` (storage/keys.py), the tag of that partition's queue:
- `ln:u:T:<openid>:<course>:<unit>` hash — dur (s), segs ("a,b,c,d": merged watched segments, whole
  seconds), cov (covered seconds), pos (resume position), done (ms when the unit was done, 0 before),
  rec (1 once MongoDB recorded the completion), v (version, bumped by every change).
- `ln:clk:T:<openid>` — ms of the learner's last counted heartbeat (any unit, any tab).
- `ln:dirty:T` zset — unit keys changed since MongoDB last got them (the write-behind queue), scored by
  when the key first changed since its last write: the loop writes a key once it is a minute old, so
  a learner's heartbeats every 15 s cost MongoDB one write per four beats (Redis is AOF-persisted; what
  completes a unit or course is written to MongoDB at once, in the request).
- `ln:flush:lock:<n>` — one flusher per partition at a time.

The previous release kept `ln:u:{<openid>}:...`, `ln:clk:{<openid>}` and one `ln:dirty`: a unit found
there is moved when the learner opens it again (`start`), and the flusher drains the old queue.

One script call per heartbeat: the 10 s gate, the 1.25x wall-clock allowance, the merge and the
completion are one atomic step, so parallel tabs and replays cannot race each other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core.deps import Deps, Slot
from storage.batching import ScriptBatcher
from storage.key_moves import move_key
from storage.keys import all_shard_tags, entity_shard_tag

SPACE = "ln"
LEGACY_DIRTY = "ln:dirty"
GATE_MS = 10_000  # at most one counted heartbeat per learner per 10 s
FACTOR = 1.25  # credit at most 1.25x the wall-clock time since the previous counted heartbeat
MAX_GAP_MS = 30_000  # a pause is not credit: the allowance counts at most 30 s since the last heartbeat
DONE_RATIO = 0.9
CLOCK_TTL_MS = 6 * 3600 * 1000
UNIT_TTL_S = 60 * 86400  # reloaded from MongoDB when it expires (flushed long before)

# KEYS: unit hash, learner clock, dirty set. ARGV: now_ms, from, to, gate, factor, max_gap, ratio, clock ttl, unit ttl
HEARTBEAT = """
local h = KEYS[1]
if redis.call('EXISTS', h) == 0 then return {-1} end
local now = tonumber(ARGV[1])
local st = redis.call('HMGET', h, 'dur', 'segs', 'cov', 'pos', 'done', 'rec', 'v')
local dur, cov, pos = tonumber(st[1]), tonumber(st[3]) or 0, tonumber(st[4]) or 0
local done, rec, v = tonumber(st[5]) or 0, tonumber(st[6]) or 0, tonumber(st[7]) or 0
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local elapsed = now - prev
if elapsed < tonumber(ARGV[4]) then
  -- not counted; remembered for the editors' anomalies (parallel tabs, replays)
  redis.call('HINCRBY', h, 'skip', 1)
  redis.call('HSET', h, 'v', v + 1)
  redis.call('ZADD', KEYS[3], 'NX', now, h)
  return {0, cov, pos, done, (done > 0 and rec == 0) and 1 or 0, 0, dur}
end
if elapsed > tonumber(ARGV[6]) then elapsed = tonumber(ARGV[6]) end
local allowance = math.floor(tonumber(ARGV[5]) * elapsed / 1000)
local f = math.max(0, math.min(dur, math.floor(tonumber(ARGV[2]))))
local t = math.max(0, math.min(dur, math.ceil(tonumber(ARGV[3]))))
local segs = {}
for n in string.gmatch(st[2] or '', '[^,]+') do segs[#segs + 1] = tonumber(n) end
-- the parts of [f, t] not yet covered, in order, cut to the allowance
local add, credited, c = {}, 0, f
for i = 1, #segs, 2 do
  local a, b = segs[i], segs[i + 1]
  if a >= t then break end
  if b > c then
    if a > c then add[#add + 1] = {c, a} end
    c = b
  end
end
if c < t then add[#add + 1] = {c, t} end
local claimed = 0
for _, g in ipairs(add) do claimed = claimed + g[2] - g[1] end
if claimed > allowance then redis.call('HINCRBY', h, 'ref', claimed - allowance) end
for _, g in ipairs(add) do
  if credited >= allowance then break end
  local take = math.min(g[2] - g[1], allowance - credited)
  segs[#segs + 1] = g[1]
  segs[#segs + 1] = g[1] + take
  credited = credited + take
end
-- sort the pairs and merge touching ones
local pairs_ = {}
for i = 1, #segs, 2 do pairs_[#pairs_ + 1] = {segs[i], segs[i + 1]} end
table.sort(pairs_, function(x, y) return x[1] < y[1] end)
local merged, total = {}, 0
for _, p in ipairs(pairs_) do
  local n = #merged
  if n > 0 and p[1] <= merged[n] then
    if p[2] > merged[n] then merged[n] = p[2] end
  else
    merged[n + 1] = p[1]
    merged[n + 2] = p[2]
  end
end
for i = 1, #merged, 2 do total = total + merged[i + 1] - merged[i] end
if done == 0 and total >= math.ceil(dur * tonumber(ARGV[7])) then done = now end
redis.call('HSET', h, 'segs', table.concat(merged, ','), 'cov', total, 'pos', t, 'done', done, 'v', v + 1)
redis.call('EXPIRE', h, tonumber(ARGV[9]))
redis.call('SET', KEYS[2], now, 'PX', tonumber(ARGV[8]))
redis.call('ZADD', KEYS[3], 'NX', now, h)
return {1, total, t, done, (done > 0 and rec == 0) and 1 or 0, credited, dur}
"""

# KEYS: unit hash, learner clock. ARGV: now_ms, dur, segs, cov, pos, done, rec, clock ttl, unit ttl
START = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'dur', ARGV[2], 'segs', ARGV[3], 'cov', ARGV[4], 'pos', ARGV[5],
             'done', ARGV[6], 'rec', ARGV[7], 'v', 0)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[9]))
redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', tonumber(ARGV[8]))
return redis.call('HMGET', KEYS[1], 'dur', 'segs', 'cov', 'pos', 'done', 'rec', 'v', 'ref', 'skip')
"""

# KEYS: dirty set, then unit keys. ARGV: their versions — forget keys whose version MongoDB now holds
ACK = """
local n = 0
for i = 2, #KEYS do
  local v = redis.call('HGET', KEYS[i], 'v')
  if v == false or tonumber(v) <= tonumber(ARGV[i - 1]) then
    n = n + redis.call('ZREM', KEYS[1], KEYS[i])
  end
end
return n
"""


@dataclass(frozen=True)
class UnitState:
    key: str
    duration_s: int
    segments: list[tuple[int, int]]
    covered_s: int
    position_s: int
    done_ms: int
    recorded: bool
    version: int
    refused_s: int = 0  # seconds claimed beyond the allowance (seeking ahead, parallel tabs)
    skipped: int = 0  # heartbeats inside the 10 s gate

    @property
    def ids(self) -> tuple[str, str, str]:
        """(openid, course, unit) from the key (either layout)."""
        head, _, tail = self.key.partition("}:")
        inner = head.partition("{")[2]
        if inner in _PARTITION_TAGS:
            openid, _, tail = tail.partition(":")
        else:  # the previous release's `ln:u:{<openid>}:<course>:<unit>`
            openid = inner
        course, _, unit = tail.partition(":")
        return openid, course, unit


@dataclass(frozen=True)
class Beat:
    started: bool
    counted: bool
    covered_s: int
    position_s: int
    done_ms: int
    needs_record: bool
    credited_s: int
    duration_s: int


FIELDS = ["dur", "segs", "cov", "pos", "done", "rec", "v", "ref", "skip"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_PARTITION_TAGS = frozenset(tag.strip("{}") for tag in all_shard_tags(SPACE))


def unit_key(openid: str, course: str, unit: str) -> str:
    return f"ln:u:{entity_shard_tag(SPACE, openid)}:{openid}:{course}:{unit}"


def clock_key(openid: str) -> str:
    return f"ln:clk:{entity_shard_tag(SPACE, openid)}:{openid}"


def dirty_key(openid: str) -> str:
    return f"ln:dirty:{entity_shard_tag(SPACE, openid)}"


def dirty_keys() -> list[str]:
    """Every write-behind queue: the partitions, then the pre-partition one (drained, never written)."""
    return [f"ln:dirty:{tag}" for tag in all_shard_tags(SPACE)] + [LEGACY_DIRTY]


def _legacy_unit_key(openid: str, course: str, unit: str) -> str:
    return f"ln:u:{{{openid}}}:{course}:{unit}"


def _segs(text: str) -> list[tuple[int, int]]:
    nums = [int(x) for x in text.split(",") if x]
    return list(zip(nums[::2], nums[1::2], strict=True))


def _state(key: str, raw: list[Any]) -> UnitState:
    def s(x: Any) -> str:
        return x.decode() if isinstance(x, bytes) else str(x or "")

    dur, segs, cov, pos, done, rec, v, ref, skip = (s(x) for x in raw)
    return UnitState(
        key, int(dur or 0), _segs(segs), int(cov or 0), int(pos or 0), int(done or 0), rec == "1", int(v or 0),
        int(ref or 0), int(skip or 0),
    )  # fmt: skip


class Live:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.beat = ScriptBatcher(deps.redis_pipe, HEARTBEAT)
        self.start_script = ScriptBatcher(deps.redis_pipe, START)
        self.ack_script = ScriptBatcher(deps.redis_pipe, ACK)

    async def heartbeat(self, openid: str, course: str, unit: str, seg_from: float, seg_to: float, at_ms: int) -> Beat:
        keys = [unit_key(openid, course, unit), clock_key(openid), dirty_key(openid)]
        args = [at_ms, seg_from, seg_to, GATE_MS, FACTOR, MAX_GAP_MS, DONE_RATIO, CLOCK_TTL_MS, UNIT_TTL_S]
        r = [int(x) for x in await self.beat(keys, args)]
        if r[0] < 0:
            return Beat(False, False, 0, 0, 0, False, 0, 0)
        return Beat(True, r[0] == 1, r[1], r[2], r[3], r[4] == 1, r[5], r[6])

    async def start(
        self, openid: str, course: str, unit: str, at_ms: int, seed: UnitState | None, dur: int
    ) -> UnitState:
        """The unit's state, created from MongoDB's copy (`seed`) or fresh when Redis has none."""
        key = unit_key(openid, course, unit)
        if await move_key(self.deps.redis, _legacy_unit_key(openid, course, unit), key):
            # moved from the previous release's name: its latest changes may not be in MongoDB yet
            await self.deps.redis.zadd(dirty_key(openid), {key: at_ms}, nx=True)
        segs = ",".join(f"{a},{b}" for a, b in seed.segments) if seed else ""
        vals = [seed.covered_s, seed.position_s, seed.done_ms, int(seed.recorded)] if seed else [0, 0, 0, 0]
        args = [at_ms, dur, segs, *vals, CLOCK_TTL_MS, UNIT_TTL_S]
        return _state(key, await self.start_script([key, clock_key(openid)], args))

    async def get(self, openid: str, course: str, unit: str) -> UnitState | None:
        key = unit_key(openid, course, unit)
        raw = await self.deps.redis.hmget(key, FIELDS)
        return None if raw[0] is None else _state(key, raw)

    async def get_many(self, keys: list[str]) -> list[UnitState]:
        pipe = self.deps.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, FIELDS)
        rows = await pipe.execute()
        return [_state(k, raw) for k, raw in zip(keys, rows, strict=True) if raw[0] is not None]

    async def mark_recorded(self, openid: str, course: str, unit: str) -> None:
        await self.deps.redis.hset(unit_key(openid, course, unit), "rec", "1")

    async def dirty_batch(self, dirty: str, n: int, min_age_ms: int = 0) -> list[str]:
        """Up to n keys of one queue changed at least `min_age_ms` ago (oldest first)."""
        upto = f"({now_ms() - min_age_ms}" if min_age_ms else "+inf"
        return [str(k) for k in await self.deps.redis.zrangebyscore(dirty, "-inf", upto, start=0, num=n)]

    async def dirty_counts(self) -> list[int]:
        """How many keys wait in each queue (`dirty_keys()` order)."""
        pipe = self.deps.redis.pipeline(transaction=False)
        for dirty in dirty_keys():
            pipe.zcard(dirty)
        return [int(n) for n in await pipe.execute()]

    async def dirty_count(self) -> int:
        return sum(await self.dirty_counts())

    async def ack(self, dirty: str, written: list[tuple[str, int]]) -> int:
        if not written:
            return 0
        if dirty == LEGACY_DIRTY:  # nothing writes the old keys any more: no version can have moved
            return int(await self.deps.redis.zrem(dirty, *(k for k, _ in written)))
        return int(await self.ack_script([dirty, *(k for k, _ in written)], [v for _, v in written]))

    async def lock(self, dirty: str, token: str, ms: int) -> bool:
        return bool(await self.deps.redis.set(_lock_key(dirty), token, nx=True, px=ms))

    async def unlock(self, dirty: str, token: str) -> None:
        script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
        await self.deps.redis.eval(script, 1, _lock_key(dirty), token)


def _lock_key(dirty: str) -> str:
    """`ln:flush:lock:<n>` per partition; the old queue keeps the old lock (and its old flusher)."""
    queues = dirty_keys()
    n = queues.index(dirty)
    return "ln:flush:lock" if n == len(queues) - 1 else f"ln:flush:lock:{n}"


LIVE = Slot[Live]("learning.live")


def live(deps: Deps) -> Live:
    """One per process (its script SHAs)."""
    return deps.get_or_make(LIVE, lambda: Live(deps))
