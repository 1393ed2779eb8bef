"""The invalidation hub and the item cache, on the suite's real Redis: what a reader would see."""

from __future__ import annotations

import asyncio
from typing import Any

from core.deps import Deps
from storage import invalidation
from storage.invalidation import Invalidation
from storage.item_cache import ItemCache


async def test_a_load_that_raced_a_change_is_answered_but_not_kept() -> None:
    cache: ItemCache[dict[str, Any] | None] = ItemCache()
    version = {"n": 1}
    reading = asyncio.Event()
    go_on = asyncio.Event()

    async def slow_load(key: str) -> dict[str, Any]:
        seen = version["n"]  # read the document, then stall before the answer is cached
        reading.set()
        await go_on.wait()
        return {"v": seen}

    pending = asyncio.create_task(cache.get("a", slow_load))
    await reading.wait()
    version["n"] = 2
    cache.forget("a")  # the change arrives while the old copy is on its way
    go_on.set()
    assert (await pending) == {"v": 1}  # this request is answered with what it read...

    async def load(key: str) -> dict[str, Any]:
        return {"v": version["n"]}

    assert await cache.get("a", load) == {"v": 2}  # ...but the next one reads again


async def test_a_gap_in_the_messages_drops_the_whole_space(deps: Deps) -> None:
    hub = Invalidation(deps.redis, poll_seconds=60)
    cache: ItemCache[dict[str, Any] | None] = ItemCache()
    hub.register("things", cache)

    async def load(key: str) -> dict[str, Any]:
        return {"key": key}

    await hub.check_versions()  # caught up with version 0
    await cache.get("a", load)
    await cache.get("b", load)
    hub.on_message("things\ta\t1")  # the next version: only `a` goes
    assert "a" not in cache._items and "b" in cache._items
    hub.on_message("things\tc\t3")  # version 2 never arrived: whatever it named may be stale
    assert cache._items == {}


async def test_a_change_reaches_another_process_through_pub_sub(deps: Deps) -> None:
    other = Invalidation(deps.redis, poll_seconds=60)  # the poll cannot be what tells it
    cache: ItemCache[dict[str, Any] | None] = ItemCache()
    other.register("things", cache)
    watcher = asyncio.create_task(other.watch())
    try:
        await other.subscribed.wait()

        async def load(key: str) -> dict[str, Any]:
            return {"key": key}

        await cache.get("a", load)
        await invalidation.changed(deps.redis, "things", "a")
        for _ in range(100):
            if "a" not in cache._items:
                break
            await asyncio.sleep(0.01)
        assert "a" not in cache._items
    finally:
        watcher.cancel()
