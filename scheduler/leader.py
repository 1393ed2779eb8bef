"""The scheduler leader lock: one instance at a time runs APScheduler.

A lease on `sched:leader` (core/lease.py): the owner renews it every ttl/3 and releases it on
shutdown. When the leader dies its lock simply expires and another instance takes it within ttl
(+ one retry interval). A leader that cannot renew in time (a stalled process, Redis unreachable)
steps down on its own before the ttl is over, so two leaders overlap at most by a clock-skew
margin — and every fire is also guarded by a per-occurrence key (the run `_id`), so even an
overlap cannot fire twice.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from core.lease import Lease

LEADER_KEY = "sched:leader"


class LeaderLock(Lease):
    def __init__(self, redis: aioredis.Redis, *, ttl: float = 10.0, key: str = LEADER_KEY, owner: str = "") -> None:
        super().__init__(redis, key, ttl=ttl, owner=owner)
