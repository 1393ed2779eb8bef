"""Settings' Redis side: one version number (`settings:ver`), bumped by every change.

Each process keeps resolved settings per (org, version) and reads the version at most every
`VERSION_TTL` seconds, so a change made on one instance is seen by every instance within a second
without a subscriber connection; an entry made for one org is never returned for another.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from services.settings.resolve import Resolved

KEY = "settings:ver"
VERSION_TTL = 0.5  # seconds a process trusts its last read of the version
MAX_ENTRIES = 20_000  # resolved orgs kept per process (the tree has a few hundred thousand orgs)


async def bump(redis: aioredis.Redis) -> int:
    return int(await redis.incr(KEY))


async def version(redis: aioredis.Redis) -> int:
    return int(await redis.get(KEY) or 0)


@dataclass
class ResolvedCache:
    """Resolved settings by (org, version): a new version simply misses, old entries age out."""

    entries: dict[tuple[str, int], dict[str, Resolved]] = field(default_factory=dict)
    version: int = -1
    read_at: float = 0.0

    async def current_version(self, redis: aioredis.Redis) -> int:
        if time.monotonic() - self.read_at > VERSION_TTL:
            fresh = await version(redis)
            if fresh != self.version:
                self.entries.clear()
            self.version, self.read_at = fresh, time.monotonic()
        return self.version

    def get(self, org: str, ver: int) -> dict[str, Resolved] | None:
        return self.entries.get((org, ver))

    def put(self, org: str, ver: int, resolved: dict[str, Resolved]) -> None:
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[(org, ver)] = resolved

    def forget_version(self) -> None:
        """After this process changed a setting: read the version again on the next request."""
        self.read_at = 0.0
