"""Concurrent calls of one Lua script, sent through the auto-pipelining connection.

redis-py spends ~100 µs of CPU per command round trip; at thousands of requests a second that, not
Redis, is the cost. `deps.redis_pipe` (core/redis_pipe.py) sends every command issued during one
event-loop iteration in one write and parses replies with hiredis (C), so under
load many handlers' script calls share one round trip. Each call is still its own EVALSHA, so each
stays atomic exactly as before; only the network round trip and the client's overhead are shared.
"""

from __future__ import annotations

import hashlib
from typing import Any

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
        # Redis restarted or SCRIPT FLUSH: the call did not run; load the script and run it again.
        await self.pipe.execute("SCRIPT", "LOAD", self.source)
        return await self.pipe.execute("EVALSHA", self.sha, len(keys), *keys, *args)
