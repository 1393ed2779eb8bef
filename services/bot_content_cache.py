"""Each process's in-memory copy of the account's content, refreshed when an editor changes it.

The bot never reads MongoDB per message. Writers bump `msg:content:ver` and publish it; every
process listens and reloads at once, and also compares the version every `poll_seconds` in case
a publish was missed (a Redis reconnect drops subscriptions). The version is read *before* the
documents, so a change racing a reload is picked up by the next check, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from services.replies import store
from services.replies.compile import EMPTY, Globals, Snapshot, build_snapshot, make_env

log = logging.getLogger(__name__)


class ContentCache:
    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], redis: aioredis.Redis, globals_: Globals, poll_seconds: float = 10.0
    ) -> None:
        self._db = db
        self._redis = redis
        self._env = make_env(globals_)
        self.poll_seconds = poll_seconds
        self.snapshot: Snapshot = EMPTY
        self._lock = asyncio.Lock()

    async def reload(self) -> Snapshot:
        async with self._lock:
            version = await store.version(self._redis)
            docs = await store.all_enabled(self._db)
            codes = sorted({str(d.get("org") or "") for d in docs})
            names = {d["_id"]: d.get("name", "") async for d in self._db.orgs.find({"_id": {"$in": codes}})}
            self.snapshot = build_snapshot(docs, self._env, version, names)
            log.info("bot content loaded: version %s, %s documents, %s orgs", version, len(docs), len(codes))
            return self.snapshot

    async def refresh_if_changed(self) -> bool:
        if await store.version(self._redis) != self.snapshot.version:
            await self.reload()
            return True
        return False

    async def watch(self) -> None:
        """Runs for the life of the process (spawned by the bot's start hook)."""
        delay = 1.0
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(store.CHANNEL)
                await self.refresh_if_changed()  # anything changed while we were not listening
                delay = 1.0
                while True:
                    await pubsub.get_message(timeout=self.poll_seconds)
                    await self.refresh_if_changed()
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():  # swallowed inside a client library
                        raise asyncio.CancelledError
            except Exception as exc:  # noqa: BLE001 - Redis or MongoDB away: keep the last copy, retry
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # a cancellation a client turned into an error
                    raise asyncio.CancelledError from exc
                log.warning("bot content watcher: %s; retrying in %.0fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            finally:
                with contextlib.suppress(Exception):  # the connection may already be gone
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
