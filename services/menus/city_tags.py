"""Followers who bind to a city by QR code get the city's menu tag, so they see its conditional menu.

Publishing a city's menu tags the followers bound at that moment (services/menus/admin.py); this
module covers everyone who binds afterwards, and takes the old city's tag away from a follower who
moves to another city (WeChat would otherwise match either city's menu). A bind queues the openid
in Redis (services.menus.live); the bot's housekeeping drains the queues every few seconds in
batches of 50 (WeChat's limit) from any process, one process per queue at a time (a lease). A batch leaves the
queue only after WeChat took it, so a process that dies mid-batch leaves it for the next drainer
(tagging twice is harmless). Untagging runs before tagging, so a follower who moves away and back
ends up tagged. A city without a published conditional menu drops its queues; a quota, rate or
system error leaves the batch queued for the next round.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis.asyncio as aioredis

from core.deps import Deps
from core.wechat.errors import WeChatError
from services.menus import live
from services.menus import store as menus
from services.menus.admin import TAG_BATCH, tag_batch
from services.menus.live import TAG, UNTAG

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0  # longer than a queue's drain takes; a dead drainer's lease runs out


def city_of(org_path: Sequence[str]) -> str | None:
    """The city level of an org path (province, city, county, ...); None for the province itself."""
    return org_path[1] if len(org_path) >= 2 else None


async def queue(redis: aioredis.Redis, openid: str, org_path: Sequence[str], previous: Sequence[str] = ()) -> None:
    city, old = city_of(org_path), city_of(previous)
    if city == old:
        return  # same city (or province to province): the tag they have, or none, is still right
    await live.enqueue(redis, openid, [(kind, c) for kind, c in ((UNTAG, old), (TAG, city)) if c is not None])


async def drain(deps: Deps) -> int:
    """Apply every queued change of city tags; returns how many followers were (un)tagged."""
    done = 0
    for kind in (UNTAG, TAG):
        await live.adopt_legacy(deps.redis, kind)  # queued before the cluster layout (upgrade)
        for city in await live.queued_cities(deps.redis, kind):
            n = await _drain_city(deps, kind, city)
            if n < 0:
                return done  # WeChat says wait (quota, rate, busy): the rest waits for the next round
            done += n
    return done


async def _drain_city(deps: Deps, kind: str, city: str) -> int:
    lease = live.drain_lease(deps.redis, kind, city, LEASE_SECONDS)
    if not await lease.acquire():
        return 0  # another process is draining this queue
    try:
        return await _drain_held(deps, kind, city)
    finally:
        await lease.release()


async def _drain_held(deps: Deps, kind: str, city: str) -> int:
    doc = await menus.get(deps.db, city) or {}
    tag_id = (doc.get("tag") or {}).get("id")
    done = 0
    while batch := await live.peek(deps.redis, kind, city, TAG_BATCH):
        if tag_id is not None:  # else no conditional menu: nothing to match, nothing to tag
            try:
                ok, failed = await tag_batch(deps, batch, int(tag_id), untag=kind == UNTAG)
                if kind == TAG:
                    await menus.add_follower_tag(deps.db, ok, int(tag_id))
                else:
                    await menus.remove_follower_tag(deps.db, ok, int(tag_id))
            except WeChatError as exc:  # only WAIT_ERRCODES get here: one bad openid is handled alone
                log.warning("%s of %s's followers paused (%s); retrying later", kind, city, exc)
                return -1
            done += len(ok)
            if failed:
                log.info("%d followers of %s could not be tagged (left the account?)", failed, city)
        await live.remove(deps.redis, kind, city, batch)  # only now: a crash before this leaves it queued
    await live.forget_city_if_empty(deps.redis, kind, city)
    return done
