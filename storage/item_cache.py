"""A tiny per-process cache of definition documents (surveys, activities) read on every hot request.

The hot paths (submit a response, sign up) must not pay a MongoDB round trip for a document that an
editor changes a few times a day: entries live `ttl` seconds, so an edit reaches every instance within
that time (and this instance at once: editors' service functions call `forget`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from core.deps import Deps, Slot

Loader = Callable[[str], Awaitable[dict[str, Any] | None]]


class ItemCache:
    def __init__(self, ttl: float = 5.0, max_items: int = 5000) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self._items: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._loading: dict[str, asyncio.Future[dict[str, Any] | None]] = {}

    async def get(self, key: str, load: Loader) -> dict[str, Any] | None:
        hit = self._items.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        pending = self._loading.get(key)
        if pending is not None:  # single flight: at a peak, hundreds of requests miss at once; one reads
            return await asyncio.shield(pending)
        task = self._loading[key] = asyncio.ensure_future(load(key))
        try:
            doc = await asyncio.shield(task)
        finally:
            if self._loading.get(key) is task:
                del self._loading[key]
        if len(self._items) >= self.max_items:
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            if len(self._items) >= self.max_items:
                self._items.clear()
        self._items[key] = (now + self.ttl, doc)
        return doc

    def forget(self, key: str) -> None:
        self._items.pop(key, None)
        self._loading.pop(key, None)


def cache_for(deps: Deps, name: str, ttl: float = 5.0) -> ItemCache:
    return deps.get_or_make(Slot[ItemCache](name), lambda: ItemCache(ttl))
