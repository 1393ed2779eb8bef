"""The push pipeline's shared Redis state: run mirrors, live counters, the queue of ready chunks, rate buckets.

MongoDB holds the truth (runs, ranges, chunks, delivery records); Redis holds what every instance
reads many times a second. Redis Cluster layout: a run's keys share the hash tag `{run:<run id>}`
(`run_tag`), so every script below touches one slot; the other keys are single-key commands.

- `push:{run:<id>}:mirror` hash: status, paused_until, total, chunks (written), snap_done,
  sent/failed/skipped/unknown totals and `c:<seq>` per-chunk contributions;
- `push:{run:<id>}:rate` hash: unix second -> outcomes recorded that second (for "per second, recent");
- `push:{run:<id>}:ready` list: sequence numbers of chunks to claim (the snapshot appends each chunk
  it writes; a chunk given back or taken from a dead holder goes to the head, so the next free
  worker slot takes it). Only a hint: the chunk's lease in MongoDB decides who works it, and the
  orphan scan re-queues whatever a lost list forgot;
- `push:cur:<push>`: the push's current run id;
- `push:bucket:<channel>`: a token bucket shared by all instances (rate per second);
- `push:quota:<channel>`: unix time until which the channel's daily quota is spent;
- `push:settings`: operator overrides of the tuning (see `Tuning`).

Counters are made exact per chunk: a chunk's contribution is kept next to the totals and replaced
by the chunk's exact counts when it completes (one Lua script keeps both in step), so a crash
between a MongoDB write and its Redis increment is corrected when the chunk finishes.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from core.deps import Deps, Slot
from storage.keys import entity_tag

log = logging.getLogger(__name__)

COUNTS = ("sent", "failed", "skipped", "unknown")
MIRROR_FIELDS = ("status", "push", "channel", "total", "chunks", "snap_done", "paused_until", "reason",
                 "started", "finished", "rev", *COUNTS)  # fmt: skip
RUN_TTL = 14 * 86400  # a finished run's mirror; MongoDB keeps the totals for good


def run_tag(run_id: str) -> str:
    return entity_tag("run", run_id)


def run_key(run_id: str) -> str:
    return f"push:{run_tag(run_id)}:mirror"


def rate_key(run_id: str) -> str:
    return f"push:{run_tag(run_id)}:rate"


def ready_key(run_id: str) -> str:
    return f"push:{run_tag(run_id)}:ready"


def legacy_keys(run_id: str) -> tuple[str, str]:
    """A run's keys before the Cluster layout (mirrors of runs started by an older release)."""
    return f"push:run:{run_id}", f"push:rate:{run_id}"


def current_key(push_id: str) -> str:
    return f"push:cur:{push_id}"


def quota_key(channel: str) -> str:
    return f"push:quota:{channel}"


SETTINGS_KEY = "push:settings"


@dataclass(frozen=True)
class Tuning:
    """Pipeline knobs; defaults suit production, `push:settings` (Redis hash) overrides them."""

    workers: int = 4  # chunks one process works on at once
    window: int = 48  # concurrent sends per chunk
    chunk_size: int = 1000
    mass_chunk_size: int = 10_000  # WeChat's mass/send takes at most 10,000 openids
    wm_step: int = 200  # recipients covered by one watermark write
    flush_size: int = 500  # delivery records per insert_many
    flush_seconds: float = 0.5
    lease_seconds: float = 10.0  # a dead holder's chunk or range is taken over this long after its last renewal
    leader_seconds: float = 10.0  # the scheduler leader lock's ttl: failover within about this long
    idle_poll: float = 0.5
    # MongoDB polling per instance (the database is shared by every instance): new runs are seen
    # within `active_poll_seconds`; the supervisor's sweep (mirrors, quota resumes, finishing,
    # settling) runs every `supervise_seconds`; receipts are read every `receipts_seconds` (Redis).
    active_poll_seconds: float = 2.0
    receipts_seconds: float = 1.0
    orphan_scan_seconds: float = 1.0  # how often a process looks for chunks whose holder stopped renewing
    snap_ranges: int = 32  # key ranges an audience is cut in (by every instance's free snapshotter)
    snap_cutters: int = 1  # ranges one process cuts at once
    snap_group: int = 8  # chunks a cutter writes per database round trip (one insert, one checkpoint)
    supervise_seconds: float = 5.0
    retry_rounds: int = 2  # extra passes for transient failures after the client's own retries
    retry_delay: float = 2.0
    resend_window: float = 480.0  # in-doubt template sends are resent (same client_msg_id) this long
    rate_template: float = 5000.0
    rate_subscribe: float = 2000.0
    rate_custom: float = 1000.0
    rate_mass: float = 1.0  # mass/send: 60 calls a minute

    def rate(self, channel: str) -> float:
        return float(getattr(self, f"rate_{channel}", 1000.0))


async def load_tuning(redis: aioredis.Redis, base: Tuning | None = None) -> Tuning:
    base = base or Tuning()
    raw = await redis.hgetall(SETTINGS_KEY)
    changes: dict[str, Any] = {}
    types = {f.name: f.type for f in dataclasses.fields(Tuning)}
    for raw_key, value in raw.items():
        key = str(raw_key)
        kind = types.get(key)
        try:
            if kind in (int, "int"):
                changes[key] = int(value)
            elif kind in (float, "float"):
                changes[key] = float(value)
            else:
                log.warning("push:settings: unknown key %s ignored", key)
        except ValueError:
            log.warning("push:settings: %s=%r is not a number, ignored", key, value)
    return dataclasses.replace(base, **changes)


# --- counters ------------------------------------------------------------------------------------
# KEYS: run hash, rate hash. ARGV: seq, mode ("add" | "set"), second, sent, failed, skipped, unknown
_COUNT = """
local field = 'c:' .. ARGV[1]
local old = {0, 0, 0, 0}
local cur = redis.call('HGET', KEYS[1], field)
if cur then
  local i = 1
  for n in string.gmatch(cur, '[^,]+') do old[i] = tonumber(n); i = i + 1 end
end
local names = {'sent', 'failed', 'skipped', 'unknown'}
local new = {}
local grew = 0
for i = 1, 4 do
  local v = tonumber(ARGV[3 + i])
  if ARGV[2] == 'add' then new[i] = old[i] + v else new[i] = v end
  local delta = new[i] - old[i]
  if delta ~= 0 then redis.call('HINCRBY', KEYS[1], names[i], delta) end
  if delta > 0 then grew = grew + delta end
end
redis.call('HSET', KEYS[1], field, table.concat(new, ','))
if grew > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[3], grew)
  redis.call('EXPIRE', KEYS[2], 300)
end
return grew
"""

# KEYS: run hash, ready list. Hands out the next ready chunk's sequence number, else -1.
_NEXT_CHUNK = """
local seq = redis.call('LPOP', KEYS[2])
if seq then return tonumber(seq) end
return -1
"""

# KEYS: run hash, ready list. ARGV: 'tail' (new chunks) | 'head' (given back, orphaned), recipients
# written (new chunks: added to `total` and `chunks`), sequence numbers.
_QUEUE = """
local push = ARGV[1] == 'head' and 'LPUSH' or 'RPUSH'
for i = 3, #ARGV do redis.call(push, KEYS[2], ARGV[i]) end
if ARGV[1] == 'tail' then
  redis.call('HINCRBY', KEYS[1], 'total', tonumber(ARGV[2]))
  redis.call('HINCRBY', KEYS[1], 'chunks', #ARGV - 2)
end
return redis.call('LLEN', KEYS[2])
"""

# KEYS: bucket. ARGV: rate per second, burst, wanted. Returns {granted, wait ms}.
_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local grant = math.min(want, math.floor(tokens))
tokens = tokens - grant
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], 60000)
local wait = 0
if grant == 0 then wait = math.ceil((1 - tokens) * 1000 / rate) end
return {grant, wait}
"""


# KEYS: run hash. ARGV: rev, then field/value pairs.
_MIRROR = """
local rev = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'rev') or '-1')
local fresh = rev >= cur
for i = 2, #ARGV, 2 do
  local k, v = ARGV[i], ARGV[i + 1]
  if k == 'chunks' or k == 'total' then
    local old = tonumber(redis.call('HGET', KEYS[1], k) or '-1')
    if (tonumber(v) or 0) > old then redis.call('HSET', KEYS[1], k, v) end
  elseif fresh or rev < 0 and k == 'snap_done' then
    redis.call('HSET', KEYS[1], k, v)
  end
end
if fresh and rev >= 0 then redis.call('HSET', KEYS[1], 'rev', rev) end
return fresh and 1 or 0
"""


class PushState:
    """Typed access to the `push:` keys; one per process (`get_state(deps)`)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._count = redis.register_script(_COUNT)
        self._next = redis.register_script(_NEXT_CHUNK)
        self._bucket = redis.register_script(_BUCKET)
        self._mirror = redis.register_script(_MIRROR)
        self._queue = redis.register_script(_QUEUE)

    async def mirror(self, run_id: str, fields: dict[str, Any], *, rev: int = -1, push_id: str | None = None) -> None:
        """Copy run fields to Redis. Status-like fields only from a revision at least as new as the
        one mirrored last (a slow writer cannot roll a pause back); `chunks` and `total` only grow."""
        args: list[Any] = [rev]
        for key, value in fields.items():
            args += [key, "" if value is None else str(value)]
        await self._mirror(keys=[run_key(run_id)], args=args)
        if push_id:
            await self.redis.set(current_key(push_id), run_id)
        if fields.get("status") in ("done", "cancelled", "failed", "skipped", "missed"):
            pipe = self.redis.pipeline(transaction=False)  # three slots at most: one command each
            for key in (run_key(run_id), rate_key(run_id), ready_key(run_id)):
                pipe.expire(key, RUN_TTL)
            await pipe.execute()

    async def forget_legacy(self, run_id: str) -> None:
        """Drop a run's mirror in the old key layout (one key per command: they hash apart)."""
        for key in legacy_keys(run_id):
            await self.redis.unlink(key)

    async def set_snapshot(self, run_id: str, chunks: int, total: int) -> None:
        """The snapshot's exact counts once it is complete (replacing the running sums)."""
        await self.redis.hset(run_key(run_id), mapping={"chunks": chunks, "total": total, "snap_done": 1})

    async def chunks_written(self, run_id: str, seqs: list[int], recipients: int) -> None:
        """New chunks are ready: queued at the tail, counted in the run's `chunks` and `total`."""
        await self._queue(keys=[run_key(run_id), ready_key(run_id)], args=["tail", recipients, *seqs])

    async def requeue(self, run_id: str, seqs: list[int]) -> None:
        """Chunks given back or left by a dead holder: queued at the head (taken before new ones)."""
        if seqs:
            await self._queue(keys=[run_key(run_id), ready_key(run_id)], args=["head", 0, *seqs])

    async def queued(self, run_id: str) -> int:
        return int(await self.redis.llen(ready_key(run_id)))

    async def run_fields(self, run_id: str) -> dict[str, str]:
        """The run's mirror without the per-chunk contributions (a million-recipient run has 1,000)."""
        values = await self.redis.hmget(run_key(run_id), MIRROR_FIELDS)
        return {k: str(v) for k, v in zip(MIRROR_FIELDS, values, strict=True) if v is not None}

    async def status(self, run_id: str) -> str | None:
        value = await self.redis.hget(run_key(run_id), "status")
        return str(value) if value is not None else None

    async def current_run(self, push_id: str) -> str | None:
        value = await self.redis.get(current_key(push_id))
        return str(value) if value else None

    async def count(self, run_id: str, seq: int, counts: dict[str, int], *, exact: bool = False) -> int:
        args = [seq, "set" if exact else "add", int(time.time()), *(int(counts.get(k, 0)) for k in COUNTS)]
        return int(await self._count(keys=[run_key(run_id), rate_key(run_id)], args=args))

    async def set_totals(self, run_id: str, totals: dict[str, int]) -> None:
        await self.redis.hset(run_key(run_id), mapping={k: int(totals.get(k, 0)) for k in COUNTS})

    async def next_chunk(self, run_id: str) -> int:
        return int(await self._next(keys=[run_key(run_id), ready_key(run_id)]))

    async def recent_rate(self, run_id: str, *, since: float = 0.0, seconds: int = 10) -> float:
        """Outcomes per second over the last `seconds` whole seconds (fewer right after `since`)."""
        now = int(time.time())
        span = max(1, min(seconds, now - int(since))) if since else seconds
        fields = [str(now - i) for i in range(1, span + 1)]
        values = await self.redis.hmget(rate_key(run_id), fields)
        return sum(int(v) for v in values if v) / span

    async def take_tokens(self, channel: str, rate: float, want: int) -> tuple[int, float]:
        """(granted, seconds to wait when none was granted) from the shared bucket."""
        burst = max(float(want), rate / 5)  # a short burst after idling, never more than a fifth of a second
        granted, wait_ms = await self._bucket(keys=[f"push:bucket:{channel}"], args=[rate, burst, want])
        return int(granted), int(wait_ms) / 1000

    async def quota_until(self, channel: str) -> float:
        value = await self.redis.get(quota_key(channel))
        return float(value) if value else 0.0

    async def set_quota_until(self, channel: str, until: float) -> None:
        ttl = max(1, int(until - time.time()) + 86400)
        await self.redis.set(quota_key(channel), str(until), ex=ttl)

    async def clear_quota(self, channel: str) -> None:
        await self.redis.delete(quota_key(channel))


STATE = Slot[PushState]("pushes.state")


def get_state(deps: Deps) -> PushState:
    return deps.get_or_make(STATE, lambda: PushState(deps.redis))


SCHED_VERSION_KEY = "sched:version"  # bumped whenever an armed schedule changes: the leader re-syncs


async def bump_schedule_version(redis: aioredis.Redis) -> None:
    await redis.incr(SCHED_VERSION_KEY)


async def schedule_version(redis: aioredis.Redis) -> str | None:
    return cast("str | None", await redis.get(SCHED_VERSION_KEY))


def _ownership_key(editor_org: str, push_id: str) -> str:
    return f"push:seen:{editor_org}:{push_id}"


async def ownership_checked(redis: aioredis.Redis, editor_org: str, push_id: str) -> bool:
    """A push never changes org: an ownership check passed in the last 10 minutes stays true."""
    return bool(await redis.exists(_ownership_key(editor_org, push_id)))


async def remember_ownership(redis: aioredis.Redis, editor_org: str, push_id: str) -> None:
    await redis.set(_ownership_key(editor_org, push_id), "1", ex=600)


_COUNT_IN_WINDOW = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


async def count_preview(redis: aioredis.Redis, push_id: str, window_seconds: int = 60) -> int:
    """Previews of this push in the current window (counted and windowed in one atomic step)."""
    return int(await redis.eval(_COUNT_IN_WINDOW, 1, f"push:preview:{push_id}", window_seconds))


TEMPLATES_KEY = "push:templates"


async def cached_templates(redis: aioredis.Redis) -> str | None:
    return cast("str | None", await redis.get(TEMPLATES_KEY))


async def cache_templates(redis: aioredis.Redis, raw: str, seconds: int) -> None:
    await redis.set(TEMPLATES_KEY, raw, ex=seconds)


FOLLOWER_KEYS = "push:followers:keys"  # hash: count, low, high, at (services/pushes/keyspace.py)


async def follower_keys(redis: aioredis.Redis) -> tuple[tuple[int, str, str], float] | None:
    raw = await redis.hgetall(FOLLOWER_KEYS)
    if not raw or not raw.get("low"):
        return None
    return (int(raw["count"]), str(raw["low"]), str(raw["high"])), float(raw["at"])


async def store_follower_keys(redis: aioredis.Redis, stats: tuple[int, str, str]) -> None:
    count, low, high = stats
    await redis.hset(FOLLOWER_KEYS, mapping={"count": count, "low": low, "high": high, "at": time.time()})
    await redis.expire(FOLLOWER_KEYS, 2 * 86400)


async def claim_follower_keys_refresh(redis: aioredis.Redis, seconds: float) -> bool:
    return bool(await redis.set(f"{FOLLOWER_KEYS}:lock", "1", nx=True, ex=max(1, int(seconds))))
