"""A lease in Redis: one holder at a time for a key, for a bounded time.

`SET <key> <owner> NX PX ttl` takes it; the holder renews it with a Lua compare-and-expire and
gives it back with compare-and-delete, so nobody renews or frees a lease that expired and was
taken by another. A holder that dies lets it expire, or, when it ran on this host, is recognised at once
(owner = host:pid:token, and that pid is gone) and its lease taken over: a service restarted after a
kill -9 does not wait out its predecessor's locks. Used for the scheduler's leader
(scheduler/leader.py), the access_token refresh (core/wechat/tokens.py) and for work that one
process at a time should do (follower tag queues).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
import weakref
from dataclasses import dataclass

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_TAKE_OVER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) and 1 or 0 end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


# Every lease key ever taken, for the operators' view (`holders`): key -> when it was last taken.
REGISTRY = "ops:leases"
REGISTRY_DAYS = 7  # keys not taken for this long leave the view

_live: weakref.WeakSet[Lease] = weakref.WeakSet()  # this process's leases, to tell our owners from a dead one's


def dead_local_owner(owner: str) -> bool:
    """True when `owner` names a process of this host that no longer runs (never for another host's)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():  # our pid: ours if one of our leases has that owner, else an earlier incarnation
        return not any(lease.owner == owner for lease in list(_live))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class Lease:
    def __init__(self, redis: aioredis.Redis, key: str, *, ttl: float, owner: str = "") -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = int(ttl * 1000)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._take_over = redis.register_script(_TAKE_OVER)
        _live.add(self)
        self.held_until = 0.0  # monotonic: when our last confirmed lease runs out

    @property
    def held(self) -> bool:
        return time.monotonic() < self.held_until

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it, or a dead process of this host did (a holder extends it with
        `renew()`). One round trip when free; one more read when held."""
        started = time.monotonic()
        if await self.redis.set(self.key, self.owner, nx=True, px=self.ttl_ms):
            self.held_until = started + self.ttl_ms / 1000
            await self._remember()
            return True
        holder = await self.holder()
        if not holder or holder == self.owner or not dead_local_owner(holder):
            return False
        if not await self._take_over(keys=[self.key], args=[holder, self.owner, self.ttl_ms]):
            return False  # somebody else was faster
        log.info("lease %s: taken over from %s, which is no longer running", self.key, holder)
        self.held_until = started + self.ttl_ms / 1000
        await self._remember()
        return True

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

    async def _remember(self) -> None:
        # Its own key, not part of the lease's atomic step: the view is informational, the lease is not.
        await self.redis.zadd(REGISTRY, {self.key: time.time()})


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def process_of(owner: str) -> str:
    """`host:pid` of an owner `host:pid:token` (other owners, e.g. an editor's name, as they are)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return f"{host}:{pid}" if pid.isdigit() else owner


@dataclass(frozen=True)
class Holder:
    key: str
    owner: str  # host:pid for a process
    ttl_ms: int


async def holders(redis: aioredis.Redis) -> list[Holder]:
    """Who holds each lease now (key order), for operators: the scheduler leader, drainers, flushers."""
    await redis.zremrangebyscore(REGISTRY, 0, time.time() - REGISTRY_DAYS * 86400)
    keys = [str(k) for k in await redis.zrange(REGISTRY, 0, -1)]
    if not keys:
        return []
    async with redis.pipeline(transaction=False) as pipe:  # keys on many nodes of a cluster: no MULTI
        for key in keys:
            pipe.get(key)
            pipe.pttl(key)
        replies = await pipe.execute()
    state = dict(zip(keys, zip(replies[0::2], replies[1::2], strict=True), strict=True))
    return [Holder(key, process_of(str(owner)), int(ttl)) for key, (owner, ttl) in sorted(state.items()) if owner]
