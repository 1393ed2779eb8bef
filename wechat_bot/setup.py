"""Start-up of the conversation: content cache, dedupe, the Bot (in the `BOT` slot of Deps), housekeeping."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket

from core.deps import Deps, Slot
from services.followers import following as followers
from services.menus import city_tags as follower_tags
from services.people import linking
from services.replies.cache import ContentCache
from services.replies.compile import Globals
from storage import invalidation
from wechat_bot.bot import Bot
from wechat_bot.dedupe import Deduper
from wechat_bot.table import build_router

log = logging.getLogger(__name__)

BOT = Slot[Bot]("bot")
HOUSEKEEPING_SECONDS = 5.0
# Last-interaction times only gate the 48-hour customer-service window, so a 30 s lag in MongoDB
# costs nothing, while each round rewrites every follower seen since the last: a worker's burst of
# messages becomes one write, not one per round (the embedded MongoDB spent ~40 µs of CPU per
# /wechat message on 5 s rounds under load).
SEEN_FLUSH_SECONDS = 30.0


async def start(deps: Deps) -> None:
    """The `start_hooks()` entry: after indexes and seeds, before the server accepts requests."""
    s = deps.settings
    cache = ContentCache(deps.db, deps.redis, Globals(mp_appid=s.miniprogram.app_id, public_url=s.server.public_url))
    await cache.reload()
    cache.listen(invalidation.hub(deps))  # reloads when an editor changes content on any instance
    worker = f"{socket.gethostname()}:{os.getpid()}:{id(deps):x}"
    deduper = Deduper(deps.redis_pipe, owner=worker)
    deps.put(BOT, Bot(deps, build_router(), cache, deduper))
    deps.spawn(housekeeping(deps, worker), "bot-housekeeping")


GC_GEN0_THRESHOLD = 20_000


async def freeze_gc(deps: Deps) -> None:
    """Process-wide, so it runs after every other start hook: the objects made at start-up (modules,
    clients, compiled content) live as long as the process, so park them outside the cyclic GC and
    its full collections stop scanning them. In the /wechat benchmark p99 went from 33-50 ms to
    24-29 ms at 64 connections, and throughput rose ~5%."""
    gc.collect()
    gc.freeze()
    # Young-generation collections every 700 allocations run dozens of times a request at peak;
    # a larger threshold trades a little memory for fewer pauses in the tail.
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)


def stopping() -> bool:
    """True when our task is being cancelled. pymongo may turn a cancellation into its own error,
    or finish the operation and return: a loop must check, not rely on CancelledError alone."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def get_bot(deps: Deps) -> Bot | None:
    return deps.get(BOT)


async def housekeeping(deps: Deps, worker: str) -> None:
    """Every few seconds: the follower org cache if Redis lost it, new followers' city menu tags;
    every SEEN_FLUSH_SECONDS: last-interaction times to MongoDB."""
    loop = asyncio.get_running_loop()
    next_seen_flush = loop.time() + SEEN_FLUSH_SECONDS
    while True:
        try:
            await followers.rebuild_org_cache(deps.db, deps.redis)
            await follower_tags.drain(deps)
            await linking.housekeeping_turn(deps)
            if loop.time() >= next_seen_flush:
                next_seen_flush = loop.time() + SEEN_FLUSH_SECONDS
                await followers.flush_seen(deps.db, deps.redis, worker)
        except Exception as exc:  # noqa: BLE001 - Redis/MongoDB hiccup: try again next round
            if stopping():
                raise asyncio.CancelledError from exc
            log.warning("bot housekeeping: %s", exc)
        if stopping():  # pymongo can also swallow a cancellation and just return
            raise asyncio.CancelledError
        await asyncio.sleep(HOUSEKEEPING_SECONDS)
