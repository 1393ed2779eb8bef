"""Receipts' Redis side: the msgid -> run map and the report streams /wechat appends to.

Redis Cluster layout and scale (a push to 10 M followers brings 10 M reports):

- the map is partitioned by day and by part (`push:msgid:<yyyymmdd>:<part>`, `MAP_PARTS` hashes per
  day, the part a CRC of the key): no hash grows to 10 M fields, and the parts spread over the
  cluster's nodes. Kept two days (reports come within minutes; a send just before midnight);
- the reports go to `SHARDS` streams `push:receipts:{push.receipts.N}` (the partition from the
  msgid), each with one consumer group: every instance reads every partition as its own consumer,
  so each entry is handled by one instance; it is acknowledged (XACK) and deleted only after its
  effect is written to MongoDB (journaled); entries a dead consumer had read are claimed by
  another one after `CLAIM_IDLE_MS` (XAUTOCLAIM). No MAXLEN: a backlog is never dropped.

Old key names (before this layout) are still read until they are gone: the global `push:receipts`
stream is drained (one EXISTS per turn), the one-hash map `push:msgid:<day>` is looked up for
keys the parts do not know (it expires by itself within two days).
"""

from __future__ import annotations

import time
import zlib
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from storage.keys import SHARDS, shard_of, shard_tag

SPACE = "push.receipts"
GROUP = "receipts"
LEGACY_STREAM = "push:receipts"
MAP_TTL = 2 * 86400
MAP_PARTS = 1024  # 10 M sends a day: ~10,000 fields per hash
CLAIM_IDLE_MS = 30_000  # an entry read this long ago and not acknowledged: its reader is gone

Entry = tuple[str, dict[str, str]]


def stream_key(shard: int) -> str:
    return f"push:receipts:{shard_tag(SPACE, shard)}"


def stream_keys() -> list[str]:
    return [stream_key(n) for n in range(SHARDS)]


def map_key(day: Any, key: str) -> str:
    return f"push:msgid:{day:%Y%m%d}:{zlib.crc32(key.encode()) % MAP_PARTS}"


def legacy_map_key(day: Any) -> str:
    return f"push:msgid:{day:%Y%m%d}"


def entry_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


async def remember(redis: aioredis.Redis, day: datetime, run_id: str, keys: list[str]) -> None:
    parts: dict[str, dict[str, str]] = defaultdict(dict)
    for key in keys:
        parts[map_key(day, key)][key] = run_id
    pipe = redis.pipeline(transaction=False)  # one command per part: the parts hash apart
    for name, mapping in parts.items():
        pipe.hset(name, mapping=mapping)  # type: ignore[arg-type]
        pipe.expire(name, MAP_TTL)
    await pipe.execute()


async def runs_of(redis: aioredis.Redis, today: datetime, keys: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for back in range(2):  # the map of the send's day; a report may cross midnight
        day = today - timedelta(days=back)
        missing = [m for m in keys if m not in found]
        if not missing:
            break
        parts: dict[str, list[str]] = defaultdict(list)
        for key in missing:
            parts[map_key(day, key)].append(key)
        parts[legacy_map_key(day)] = missing
        pipe = redis.pipeline(transaction=False)
        for name, wanted in parts.items():
            pipe.hmget(name, wanted)
        for (_, wanted), values in zip(parts.items(), await pipe.execute(), strict=True):
            for key, run_id in zip(wanted, values, strict=True):
                if run_id and key not in found:
                    found[key] = str(run_id)
    return found


async def add_report(redis: aioredis.Redis, entry: dict[str, str]) -> None:
    await redis.xadd(stream_key(shard_of(entry["m"])), entry)  # type: ignore[arg-type]


async def ensure_groups(redis: aioredis.Redis) -> None:
    """Each partition's consumer group, from the stream's start (idempotent)."""
    for key in stream_keys():
        try:
            await redis.xgroup_create(key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


def _entries(reply: Any) -> list[Entry]:
    """XREADGROUP's reply for one stream, [[key, [(id, fields), ...]]], as (id, fields). An entry
    deleted after it was read comes back without fields: it was handled, nothing to do."""
    if not reply:
        return []
    return [(str(i), dict(f)) for _, items in reply for i, f in items if f]


async def read(
    redis: aioredis.Redis, consumer: str, count: int, claim_idle_ms: int = CLAIM_IDLE_MS
) -> dict[str, list[Entry]]:
    """For every partition: this consumer's unacknowledged entries first (read earlier, still too
    young to apply, or a write that failed), then entries whose reader went silent, then new ones."""
    keys = stream_keys()
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.xreadgroup(GROUP, consumer, {key: "0"}, count=count)
    own = [_entries(r) for r in await pipe.execute()]
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.xautoclaim(key, GROUP, consumer, claim_idle_ms, "0-0", count=count)
    claimed = [_claimed(r) for r in await pipe.execute()]
    pipe = redis.pipeline(transaction=False)
    for key, mine in zip(keys, own, strict=True):
        pipe.xreadgroup(GROUP, consumer, {key: ">"}, count=max(1, count - len(mine)))
    new = [_entries(r) for r in await pipe.execute()]
    out: dict[str, list[Entry]] = {}
    for key, a, b, c in zip(keys, own, claimed, new, strict=True):
        seen: dict[str, dict[str, str]] = {}
        for entry_id, fields in (*a, *b, *c):
            seen.setdefault(entry_id, fields)
        if seen:
            out[key] = list(seen.items())
    return out


def _claimed(reply: Any) -> list[Entry]:
    """XAUTOCLAIM's entries; an entry deleted meanwhile comes back without fields (Redis 6.2)."""
    if not reply or len(reply) < 2:
        return []
    return [(str(i), dict(f)) for i, f in reply[1] if f]


async def done(redis: aioredis.Redis, handled: dict[str, list[str]]) -> None:
    """Acknowledge and delete handled entries (their effect is in MongoDB)."""
    pipe = redis.pipeline(transaction=False)
    for key, ids in handled.items():
        if ids:
            pipe.xack(key, GROUP, *ids)
            pipe.xdel(key, *ids)
    await pipe.execute()


async def queued_reports(redis: aioredis.Redis) -> list[dict[str, str]]:
    """Every report not yet handled, oldest first (operations and tests; small backlogs only)."""
    found: list[Entry] = []
    for key in stream_keys():
        found += cast(list[Entry], await redis.xrange(key))
    return [f for _, f in sorted(found, key=lambda e: (entry_ms(e[0]), int(e[0].split("-")[1])))]


async def backlog(redis: aioredis.Redis) -> int:
    """Reports waiting in every partition (the old global stream included)."""
    pipe = redis.pipeline(transaction=False)
    for key in (*stream_keys(), LEGACY_STREAM):
        pipe.xlen(key)
    return sum(int(n) for n in await pipe.execute())


# --- the old global stream, drained until it is gone ----------------------------------------------
async def legacy_settled(redis: aioredis.Redis, settle_ms: int, count: int) -> list[Entry]:
    if not await redis.exists(LEGACY_STREAM):
        return []
    until = f"{int(time.time() * 1000) - settle_ms}"
    return cast(list[Entry], await redis.xrange(LEGACY_STREAM, "-", until, count=count))


# An emptied stream stays as a key; it goes only while still empty (an old instance in a rolling
# upgrade may append one more report): checked and deleted in one step.
_DROP_IF_EMPTY = "if redis.call('XLEN', KEYS[1]) == 0 then return redis.call('DEL', KEYS[1]) end return 0"


async def legacy_delete(redis: aioredis.Redis, entry_ids: list[str]) -> None:
    if entry_ids:
        await redis.xdel(LEGACY_STREAM, *entry_ids)
    await redis.eval(_DROP_IF_EMPTY, 1, LEGACY_STREAM)
