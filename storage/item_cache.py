"""Per-process caches of definition documents (surveys, activities) read on every hot request.

The hot paths (submit a response, sign up) must not pay a MongoDB round trip for a document that an
editor changes a few times a day. Every cache is registered with the process's invalidation hub
(storage.invalidation): an edit on any instance drops the item everywhere at once (pub/sub), and a
lost message is healed by the hub's version poll. The TTL is only the last resort.

A load that raced an invalidation is answered but not kept: every forget bumps `epoch`, and a result
is stored only when the epoch did not move while it was read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from core.deps import Deps, Slot
from storage import invalidation

V = TypeVar("V")
Loader = Callable[[str], Awaitable[V]]
TTL = 30.0  # a bound for when both pub/sub and the version poll are unavailable


class ItemCache(Generic[V]):
    def __init__(self, ttl: float = TTL, max_items: int = 5000) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self.epoch = 0
        self._items: dict[str, tuple[float, V]] = {}
        self._loading: dict[str, asyncio.Future[V]] = {}

    async def get(self, key: str, load: Loader[V]) -> V:
        hit = self._items.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        pending = self._loading.get(key)
        if pending is not None:  # single flight: at a peak, hundreds of requests miss at once; one reads
            return await asyncio.shield(pending)
        epoch = self.epoch
        task = self._loading[key] = asyncio.ensure_future(load(key))
        try:
            doc = await asyncio.shield(task)
        finally:
            if self._loading.get(key) is task:
                del self._loading[key]
        if self.epoch != epoch:
            return doc  # changed while we read it: answer this request, keep nothing
        if len(self._items) >= self.max_items:
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            if len(self._items) >= self.max_items:
                self._items.clear()
        self._items[key] = (now + self.ttl, doc)
        return doc

    def forget(self, key: str) -> None:
        self.epoch += 1
        self._items.pop(key, None)
        self._loading.pop(key, None)

    def forget_all(self) -> None:
        self.epoch += 1
        self._items.clear()
        self._loading.clear()


Doc = dict[str, Any] | None


def cache_for(deps: Deps, name: str, ttl: float = TTL) -> ItemCache[Doc]:
    """The process's cache `name` (one per Deps), invalidated through the hub under the space `name`."""

    def make() -> ItemCache[Doc]:
        cache: ItemCache[Doc] = ItemCache(ttl)
        invalidation.hub(deps).register(name, cache)
        return cache

    return deps.get_or_make(Slot[ItemCache[Doc]](name), make)


async def changed(deps: Deps, name: str, key: str) -> None:
    """After the database holds an edit of `key`: forget it here and on every other instance."""
    await invalidation.hub(deps).changed(name, key)
