"""The access_token, shared by every process through Redis, refreshed by one process at a time.

WeChat limits token fetches per day and a new token can invalidate the old one, so processes
must share one token. The refresher holds a Redis lock (SET NX PX); the others wait for the new
value. A 40001 on token T refreshes only if Redis still holds T: whoever saw the failure first
refreshes, and the rest pick up the new token without fetching again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from core.lease import Lease

log = logging.getLogger(__name__)

# Fetch a token: (force_refresh) -> (token, expires_in seconds)
Fetcher = Callable[[bool], Awaitable[tuple[str, int]]]

EARLY_REFRESH_SECONDS = 300  # renew before WeChat's expiry, so no call carries a dying token
LOCAL_CACHE_SECONDS = 30.0  # saves a Redis round trip per call; a stale copy is fixed by the 40001 path


class TokenManager:
    def __init__(self, redis: aioredis.Redis, app_id: str, fetch: Fetcher, *, lock_seconds: float = 15.0) -> None:
        self._redis = redis
        self._key = f"wx:token:{app_id}"
        self._lock_key = f"wx:token:lock:{app_id}"
        self._fetch = fetch
        self._lock_ms = int(lock_seconds * 1000)
        self._local: tuple[str, float] | None = None

    async def get(self) -> str:
        if self._local and self._local[1] > time.monotonic():
            return self._local[0]
        token = await self._redis.get(self._key)
        if token:
            self._remember(str(token))
            return str(token)
        return await self.refresh(stale=None)

    async def refresh(self, stale: str | None) -> str:
        """Return a token other than `stale`, fetching one only if nobody else has."""
        self._local = None
        deadline = time.monotonic() + self._lock_ms / 1000 + 5
        while True:
            current = await self._redis.get(self._key)
            if current and current != stale:
                self._remember(str(current))
                return str(current)
            lease = Lease(self._redis, self._lock_key, ttl=self._lock_ms / 1000)
            if await lease.acquire():
                try:
                    return await self._fetch_and_store(stale)
                finally:
                    await lease.release()
            if time.monotonic() > deadline:
                raise TimeoutError("timed out waiting for another process to refresh the access_token")
            await asyncio.sleep(0.05)

    async def _fetch_and_store(self, stale: str | None) -> str:
        current = await self._redis.get(self._key)  # someone may have stored one while we took the lock
        if current and current != stale:
            self._remember(str(current))
            return str(current)
        token, expires_in = await self._fetch(False)
        if stale is not None and token == stale:
            # stable_token hands back the same token while WeChat thinks it valid; we know better.
            token, expires_in = await self._fetch(True)
        ttl = max(60, expires_in - EARLY_REFRESH_SECONDS)
        await self._redis.set(self._key, token, ex=ttl)
        self._remember(token)
        log.info("access_token refreshed for %s (valid %ss)", self._key.rsplit(":", 1)[-1], expires_in)
        return token

    async def current(self) -> str | None:
        """The token every process uses now (Redis, not this process's copy)."""
        value = await self._redis.get(self._key)
        return str(value) if value else None

    async def invalidate(self) -> None:
        self._local = None
        await self._redis.delete(self._key)

    def _remember(self, token: str) -> None:
        self._local = (token, time.monotonic() + LOCAL_CACHE_SECONDS)
