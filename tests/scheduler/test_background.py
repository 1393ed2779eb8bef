"""The one background-work list and its loop: every entry starts, a failing turn is retried, and a
cancellation ends the loop even when a client library swallows it mid-call."""

from __future__ import annotations

import asyncio
from typing import Any

from core.deps import Deps
from scheduler import background
from scheduler.loop import repeat


async def test_every_background_entry_names_a_capability_function() -> None:
    names = [w.name for w in background.BACKGROUND]
    assert len(names) == len(set(names))
    for work in background.BACKGROUND:
        fn = work.turn if isinstance(work, background.Every) else work.start
        assert fn.__module__.startswith(("services.", "scheduler", "storage.")), work.name
        if isinstance(work, background.Every):
            assert work.seconds >= 1


async def test_a_failing_turn_is_retried_and_a_swallowed_cancellation_still_stops_the_loop() -> None:
    turns: list[str] = []
    third = asyncio.Event()

    async def turn(_: Any) -> None:
        turns.append("turn")
        if len(turns) >= 3:
            third.set()
        if len(turns) == 1:
            raise ConnectionError("redis down")  # an outage: logged once, retried
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            return  # what redis-py / pymongo were seen doing: the cancellation never surfaces

    task = asyncio.ensure_future(repeat(None, "test loop", turn, 0.01))  # type: ignore[arg-type]
    await asyncio.wait_for(third.wait(), 5)  # the failed first turn was retried
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert task in done and task.cancelled()


async def test_the_service_starts_every_loop(deps: Deps, app_server: str) -> None:
    running = {t.get_name() for t in deps.tasks}
    every = {w.name for w in background.BACKGROUND if isinstance(w, background.Every)}
    assert every <= running
