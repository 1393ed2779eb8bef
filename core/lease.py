"""A lease in Redis: one holder at a time for a key, for a bounded time.

`SET <key> <owner> NX PX ttl` takes it; the holder renews it with a Lua compare-and-expire and
gives it back with compare-and-delete, so nobody renews or frees a lease that expired and was
taken by another. A holder that dies simply lets it expire. Used for the scheduler's leader
(scheduler/leader.py), the access_token refresh (core/wechat/tokens.py) and for work that one
process at a time should do (follower tag queues).
"""

from __future__ import annotations

import secrets
import socket
import time

import redis.asyncio as aioredis

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Lease:
    def __init__(self, redis: aioredis.Redis, key: str, *, ttl: float, owner: str = "") -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = int(ttl * 1000)
        self.owner = owner or f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self.held_until = 0.0  # monotonic: when our last confirmed lease runs out

    @property
    def held(self) -> bool:
        return time.monotonic() < self.held_until

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it (one round trip; a holder extends it with `renew()`)."""
        started = time.monotonic()
        if await self.redis.set(self.key, self.owner, nx=True, px=self.ttl_ms):
            self.held_until = started + self.ttl_ms / 1000
            return True
        return False

    async def renew(self) -> bool:
        started = time.monotonic()
        if await self._renew(keys=[self.key], args=[self.owner, self.ttl_ms]):
            self.held_until = started + self.ttl_ms / 1000
            return True
        self.held_until = 0.0
        return False

    async def release(self) -> None:
        self.held_until = 0.0
        await self._release(keys=[self.key], args=[self.owner])

    async def holder(self) -> str | None:
        value = await self.redis.get(self.key)
        return str(value) if value else None
