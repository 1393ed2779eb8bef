"""Redis key layout for Redis Cluster: every multi-key operation keeps its keys in one hash slot.

Redis Cluster runs a Lua script or a MULTI/EXEC only when all its keys hash to one slot; the slot
is computed from the part of the key inside `{...}` (the hash tag). Two ways to tag a key:

- `entity_tag(space, id)` — `{space:id}`: an aggregate whose scripts touch only its own keys
  (a member's session keys, one lottery's pool). Aggregates spread over the cluster by id.
- `shard_tag(space, shard)` — `{space.N}`: for capabilities whose scripts also append to a
  capability-wide stream or queue (ballots, sign-ups). Such a stream is cut into `SHARDS`
  partitions; an aggregate lives in the partition `shard_of(id)`, and its keys and the partition's
  stream carry the same tag, so one script updates both. The consumer reads each partition on its own.

The partition tags are chosen so that partition N hashes into the N-th sixteenth of the slot space:
on a cluster whose masters own even slot ranges (what `redis-cli --cluster create` makes), the
partitions, and the work of their consumers, spread evenly over the masters.
"""

from __future__ import annotations

import zlib
from functools import cache

from redis.crc import key_slot

SLOTS = 16384
# Fixed forever: changing it moves aggregates between partitions (keys would be orphaned).
SHARDS = 16


def slot(key: str) -> int:
    """The Redis Cluster hash slot of `key` (CRC16 of its hash tag, as the server computes it)."""
    return int(key_slot(key.encode()))


def entity_tag(space: str, entity_id: str) -> str:
    return "{" + f"{space}:{entity_id}" + "}"


def shard_of(entity_id: str) -> int:
    """The partition an aggregate belongs to (stable across processes and releases)."""
    return zlib.crc32(entity_id.encode()) % SHARDS


@cache
def shard_tag(space: str, shard: int) -> str:
    """`{space.N}` or `{space.N.k}`: the first name whose slot falls in the N-th sixteenth of the slots."""
    if not 0 <= shard < SHARDS:
        raise ValueError(f"shard {shard} outside 0..{SHARDS - 1}")
    width = SLOTS // SHARDS
    base = f"{space}.{shard}"
    if slot(base) // width == shard:
        return "{" + base + "}"
    k = 0
    while slot(f"{base}.{k}") // width != shard:
        k += 1
    return "{" + f"{base}.{k}" + "}"


def entity_shard_tag(space: str, entity_id: str) -> str:
    """The partition tag of an aggregate: its keys and its partition's stream share one slot."""
    return shard_tag(space, shard_of(entity_id))


def all_shard_tags(space: str) -> list[str]:
    return [shard_tag(space, n) for n in range(SHARDS)]
