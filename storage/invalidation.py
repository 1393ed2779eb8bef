"""One way for every per-process cache to learn that an item changed on another instance.

Several instances each keep copies (definitions of activities and surveys, the bot's compiled content,
resolved org settings). A writer calls `changed(redis, space, item_id)` once the database holds the
change: it bumps the space's version (one field of the hash `cache:ver`, one key, so it lives in one
cluster slot) and publishes `space<TAB>item<TAB>version` on `cache:changed`. Each process runs one
watcher (`Invalidation.watch`, one per Deps): a message drops that item from the space's listeners at
once; every `poll_seconds` the watcher compares the versions and drops a whole space whose version
moved by something it did not hear (a publish lost in a reconnect, a message dropped by a slow
subscriber), so a lost message is healed within one interval.

Caches also need to refuse a load that raced an invalidation (read the old document, then the message
arrived, then the stale copy was stored): every forget bumps the listener's `epoch`, and a load is kept
only when the epoch did not move while it ran (storage.item_cache does this).

Decisions that must hold at once (an activity's status, a poll's window) are never taken from these
caches alone: the Lua script that decides checks its own copy in Redis. The caches only need to be
fresh for what people read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol, cast

import redis.asyncio as aioredis

from core.deps import Deps, Slot

log = logging.getLogger(__name__)

VERSIONS = "cache:ver"  # hash: space -> version
CHANNEL = "cache:changed"
ALL = "*"  # item id meaning "everything in the space"
POLL_SECONDS = 2.0


class Listener(Protocol):
    def forget(self, item_id: str) -> None: ...

    def forget_all(self) -> None: ...


async def changed(redis: aioredis.Redis, space: str, item_id: str = ALL) -> int:
    """After a write reached the database: tell every instance; returns the space's new version."""
    version = int(await redis.hincrby(VERSIONS, space, 1))
    await redis.publish(CHANNEL, f"{space}\t{item_id}\t{version}")
    return version


async def version(redis: aioredis.Redis, space: str) -> int:
    return int(await redis.hget(VERSIONS, space) or 0)


class Invalidation:
    """The listeners of one process (one Deps) and the watcher that tells them what changed."""

    def __init__(self, redis: aioredis.Redis, poll_seconds: float = POLL_SECONDS) -> None:
        self.redis = redis
        self.poll_seconds = poll_seconds
        self._listeners: dict[str, list[Listener]] = {}
        self._known: dict[str, int] = {}  # space -> the version this process has caught up with
        self.subscribed = asyncio.Event()  # set while the subscription is live (tests wait for it)

    def register(self, space: str, listener: Listener) -> None:
        self._listeners.setdefault(space, []).append(listener)

    def forget(self, space: str, item_id: str) -> None:
        for listener in self._listeners.get(space, ()):
            if item_id == ALL:
                listener.forget_all()
            else:
                listener.forget(item_id)

    async def changed(self, space: str, item_id: str = ALL) -> None:
        """This process changed the item: forget it here at once, then tell the others."""
        self.forget(space, item_id)
        await changed(self.redis, space, item_id)

    def on_message(self, data: str) -> None:
        space, _, rest = data.partition("\t")
        item_id, _, ver = rest.partition("\t")
        if space not in self._listeners:
            return
        known = self._known.get(space)
        fresh = int(ver) if ver.isdigit() else -1
        if known is not None and fresh > known + 1:
            self.forget(space, ALL)  # a gap: some message before this one never reached us
        else:
            self.forget(space, item_id)
        if known is None or fresh > known:
            self._known[space] = fresh

    async def check_versions(self) -> None:
        """The safety net: a space whose version moved without us hearing it is dropped entirely."""
        if not self._listeners:
            return
        raw = cast(dict[str, str], await self.redis.hgetall(VERSIONS))
        for space in self._listeners:
            current = int(raw.get(space) or 0)
            if self._known.get(space) != current:
                if space in self._known:
                    log.info("cache %s: version %s -> %s unheard; dropped", space, self._known[space], current)
                self.forget(space, ALL)
                self._known[space] = current

    async def watch(self) -> None:
        """Runs for the life of the process (scheduler/background.py starts it)."""
        delay = 1.0
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                self.subscribed.set()
                await self.check_versions()  # anything changed while we were not listening
                delay = 1.0
                loop = asyncio.get_running_loop()
                next_poll = loop.time() + self.poll_seconds
                while True:
                    message = await pubsub.get_message(timeout=max(0.0, next_poll - loop.time()))
                    if message is not None and message.get("type") == "message":
                        data = message["data"]
                        self.on_message(data.decode() if isinstance(data, bytes) else str(data))
                    if loop.time() >= next_poll:
                        await self.check_versions()
                        next_poll = loop.time() + self.poll_seconds
                    _raise_if_cancelling()
            except Exception as exc:  # noqa: BLE001 - Redis away: keep the copies (TTL-bounded), retry
                _raise_if_cancelling(exc)
                log.warning("cache invalidation watcher: %s; retrying in %.0fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            finally:
                self.subscribed.clear()
                with contextlib.suppress(Exception):  # the connection may already be gone
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


def _raise_if_cancelling(cause: BaseException | None = None) -> None:
    """Client libraries can swallow a cancellation (or turn it into their own error): honour it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from cause


HUB = Slot[Invalidation]("storage.invalidation")


def hub(deps: Deps) -> Invalidation:
    return deps.get_or_make(HUB, lambda: Invalidation(deps.redis))


async def start(deps: Deps) -> None:
    """Start hook: one watcher per process, for every cache registered now or later."""
    deps.spawn(hub(deps).watch(), "cache-invalidation")
