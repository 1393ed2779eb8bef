"""Followers who bind to a city by QR code get the city's menu tag, so they see its conditional menu.

Publishing a city's menu tags the followers bound at that moment (services/console_menu.py); this
module covers everyone who binds afterwards. A bind queues the openid in Redis (`menu:tagq:<city>`,
the city in `menu:tagq`); the bot's housekeeping drains the queues every few seconds in batches of
50 (WeChat's batchtagging limit) from any process: SPOP hands each openid to exactly one. A city
without a published conditional menu drops its queue; a quota, rate or system error puts the batch
back for the next round. An openid popped by a process that then dies is not retried: an editor's
"重新打标签" (re-tag the whole city) covers that rare case.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis.asyncio as aioredis

from core.deps import Deps
from core.wechat.errors import WeChatError
from services.console_menu import TAG_BATCH, tag_batch
from storage import console_menus as menus

log = logging.getLogger(__name__)

CITIES = "menu:tagq"

# Forget the city only while its queue is empty, atomically: a bind racing with the drain keeps it.
_FORGET_IF_EMPTY = """
if redis.call('SCARD', KEYS[2]) == 0 then return redis.call('SREM', KEYS[1], ARGV[1]) end
return 0
"""


def queue_key(city: str) -> str:
    return f"menu:tagq:{city}"


def city_of(org_path: Sequence[str]) -> str | None:
    """The city level of an org path (province, city, county, ...); None for the province itself."""
    return org_path[1] if len(org_path) >= 2 else None


async def queue(redis: aioredis.Redis, openid: str, org_path: Sequence[str]) -> None:
    city = city_of(org_path)
    if city is None:
        return
    pipe = redis.pipeline(transaction=False)
    pipe.sadd(queue_key(city), openid)
    pipe.sadd(CITIES, city)
    await pipe.execute()


async def drain(deps: Deps) -> int:
    """Tag every queued follower with their city's menu tag; returns how many were tagged."""
    tagged = 0
    for city in sorted(await deps.redis.smembers(CITIES)):
        doc = await menus.get(deps.db, city) or {}
        tag_id = (doc.get("tag") or {}).get("id")
        while batch := await deps.redis.spop(queue_key(city), TAG_BATCH):
            if tag_id is None:
                continue  # no conditional menu: nothing to match, nothing to tag
            try:
                ok, failed = await tag_batch(deps, list(batch), int(tag_id))
            except WeChatError as exc:
                await deps.redis.sadd(queue_key(city), *batch)
                log.warning("tagging new followers of %s paused (%s); retrying later", city, exc)
                return tagged
            await menus.add_follower_tag(deps.db, ok, int(tag_id))
            tagged += len(ok)
            if failed:
                log.info("%d new followers of %s could not be tagged (left the account?)", failed, city)
        await deps.redis.eval(_FORGET_IF_EMPTY, 2, CITIES, queue_key(city), city)
    return tagged
