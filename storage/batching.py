"""Batched writes: concurrent Lua script calls on the auto-pipelining connection, and durable MongoDB writes.

ScriptBatcher: concurrent calls of one Lua script, sent through the auto-pipelining connection.

redis-py spends ~100 µs of CPU per command round trip; at thousands of requests a second that, not
Redis, is the cost. `deps.redis_pipe` (core/redis_pipe.py) sends every command issued during one
event-loop iteration in one write and parses replies with hiredis (C), so under
load many handlers' script calls share one round trip. Each call is still its own EVALSHA, so each
stays atomic exactly as before; only the network round trip and the client's overhead are shared.

`insert_new`: an unordered insert_many where a document already stored (a retry, a second writer) is
left as it is and any other error still raises. `in_groups`: an async stream's items n at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError
from pymongo.write_concern import WriteConcern

from core.redis_pipe import RedisPipe, RedisReplyError


class ScriptBatcher:
    def __init__(self, pipe: RedisPipe, source: str) -> None:
        self.pipe = pipe
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self.pipe.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        # Redis restarted, failed over or SCRIPT FLUSH: the call did not run. EVAL runs it and caches it
        # on the node that owns the keys (a keyless SCRIPT LOAD could reach another cluster node).
        return await self.pipe.execute("EVAL", self.source, len(keys), *keys, *args)


# --- durable writes -------------------------------------------------------------------------------
# Write-behind (a Redis queue that is deleted once MongoDB holds it) is only safe when MongoDB's answer
# means "on disk": with the default write concern the server acknowledges before its journal is synced,
# and a crash a fraction of a second later lost acknowledged ballots. Every flusher and every write of
# a ledger or a content document goes through `durable(collection)`: j=True (the journal is synced
# before the answer), plus w="majority" when the client talks to a replica set (a failover must not
# roll the write back). Other writes keep the client's default.
_JOURNALED = WriteConcern(j=True)
_MAJORITY = WriteConcern(w="majority", j=True)


def durable_concern(replica_set: str | None) -> WriteConcern:
    return _MAJORITY if replica_set else _JOURNALED


def durable(collection: AsyncCollection[dict[str, Any]]) -> AsyncCollection[dict[str, Any]]:
    """The same collection, writing with the journaled (majority on a replica set) write concern."""
    replica_set = collection.database.client.options.replica_set_name
    return collection.with_options(write_concern=durable_concern(replica_set))


DUPLICATE_KEY = 11000  # MongoDB's error code for a unique index (or _id) already taken

T = TypeVar("T")


@dataclass(frozen=True)
class Inserted:
    count: int  # documents inserted by this call
    duplicates: list[int]  # positions in `docs` of those already stored


async def insert_new(collection: AsyncCollection[dict[str, Any]], docs: Sequence[dict[str, Any]]) -> Inserted:
    """Insert every document not stored yet (unordered: one duplicate does not stop the rest)."""
    if not docs:
        return Inserted(0, [])
    try:
        result = await collection.insert_many(list(docs), ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return Inserted(int(exc.details.get("nInserted", 0)), [int(e["index"]) for e in errors])
    return Inserted(len(result.inserted_ids), [])


async def in_groups(stream: AsyncIterator[T], n: int) -> AsyncIterator[list[T]]:
    """The stream's items `n` at a time (the last group may be shorter, none is empty)."""
    group: list[T] = []
    async for item in stream:
        group.append(item)
        if len(group) >= n:
            yield group
            group = []
    if group:
        yield group
