"""Settings' per-process cache: resolved settings per org, dropped whenever any setting changes.

A change on any instance is announced through storage.invalidation (the `settings` space: pub/sub at
once, a version poll as the safety net); a resolve that raced a change is answered but not kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis

from services.settings.resolve import Resolved
from storage import invalidation

SPACE = "settings"
MAX_ENTRIES = 20_000  # resolved orgs kept per process (the tree has a few hundred thousand orgs)


async def bump(redis: aioredis.Redis) -> int:
    return await invalidation.changed(redis, SPACE)


@dataclass
class ResolvedCache:
    """Resolved settings by org; `epoch` moves on every invalidation (storage.invalidation.Listener)."""

    entries: dict[str, dict[str, Resolved]] = field(default_factory=dict)
    epoch: int = 0

    def get(self, org: str) -> dict[str, Resolved] | None:
        return self.entries.get(org)

    def put(self, org: str, epoch: int, resolved: dict[str, Resolved]) -> None:
        if epoch != self.epoch:
            return  # a setting changed while this was resolved: do not keep it
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[org] = resolved

    def forget(self, item_id: str) -> None:
        self.forget_all()  # a setting of one org changes what every org below it resolves to

    def forget_all(self) -> None:
        self.epoch += 1
        self.entries.clear()
