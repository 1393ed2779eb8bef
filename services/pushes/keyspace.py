"""The followers' key space (how many, lowest and highest openid) for planning audience ranges.

Planning a push splits the openid space between the lowest and highest openid. On MongoDB that is
two one-key index walks; on the embedded server each is a scan of the index (tens of seconds for a
million followers), which would hold every push's first chunk back. So the figures live in Redis
(`push:followers:keys`), refreshed in the background at most once an hour (one instance, leased),
and computed on the spot only when missing. Slightly stale figures cost balance, never exactness:
the outer ranges are open-ended.
"""

from __future__ import annotations

import time

from core.deps import Deps
from services.pushes import audiences_store as q
from services.pushes import live
from services.pushes.audiences import KeyStats

REFRESH_SECONDS = 3600.0


async def follower_keys(deps: Deps) -> KeyStats | None:
    """The figures from Redis, or computed now (and stored) when Redis has none."""
    cached = await live.follower_keys(deps.redis)
    if cached is not None:
        return cached[0]
    return await _refresh(deps)


async def refresh_once(deps: Deps) -> bool:
    """The background turn: recompute when the figures are older than an hour (one instance)."""
    cached = await live.follower_keys(deps.redis)
    if cached is not None and time.time() - cached[1] < REFRESH_SECONDS:
        return False
    if not await live.claim_follower_keys_refresh(deps.redis, REFRESH_SECONDS / 4):
        return False
    await _refresh(deps)
    return True


async def _refresh(deps: Deps) -> KeyStats | None:
    stats = await q.follower_key_stats(deps.db)
    if stats is not None:
        await live.store_follower_keys(deps.redis, stats)
    return stats
