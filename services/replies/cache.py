"""Each process's in-memory copy of the account's content, refreshed when an editor changes it.

The bot never reads MongoDB per message. Writers bump the `content` space of storage.invalidation
(one version for the whole account); the process's invalidation hub tells this cache at once
(pub/sub) or at its next version poll (a missed publish), and the cache reloads in the background.
The version is read *before* the documents, so a change racing a reload is picked up by the next
check, never lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from services.replies import store
from services.replies.compile import EMPTY, Globals, Snapshot, build_snapshot, make_env
from storage.invalidation import Invalidation

log = logging.getLogger(__name__)


class ContentCache:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], redis: aioredis.Redis, globals_: Globals) -> None:
        self._db = db
        self._redis = redis
        self._env = make_env(globals_)
        self.snapshot: Snapshot = EMPTY
        self._lock = asyncio.Lock()
        self._reloading: asyncio.Task[None] | None = None
        self._again = False

    def listen(self, hub: Invalidation) -> None:
        hub.register(store.SPACE, self)

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

    # storage.invalidation.Listener: any change means one reload of the whole (small) snapshot.
    def forget(self, item_id: str) -> None:
        self.forget_all()

    def forget_all(self) -> None:
        if self._reloading is not None and not self._reloading.done():
            self._again = True  # the running reload may have read the version before this change
            return
        self._reloading = asyncio.ensure_future(self._reload_until_current())

    async def _reload_until_current(self) -> None:
        delay = 0.5
        while True:
            self._again = False
            try:
                await self.refresh_if_changed()
            except Exception as exc:  # noqa: BLE001 - MongoDB away: keep the last copy; the poll retries too
                log.warning("bot content reload failed: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                self._again = True
            if not self._again:
                return
