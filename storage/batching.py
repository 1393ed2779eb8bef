"""Batched writes: concurrent Lua script calls on the auto-pipelining connection, and durable MongoDB writes.

ScriptBatcher: concurrent calls of one Lua script, sent through the auto-pipelining connection.

redis-py spends ~100 µs of CPU per command round trip; at thousands of requests a second that, not
Redis, is the cost. `deps.redis_pipe` (core/redis_pipe.py) sends every command issued during one
event-loop iteration in one write and parses replies with hiredis (C), so under
load many handlers' script calls share one round trip. Each call is still its own EVALSHA, so each
stays atomic exactly as before; only the network round trip and the client's overhead are shared.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
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
