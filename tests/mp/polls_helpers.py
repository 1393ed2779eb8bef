"""Shared helpers for the poll tests: polls created through the editors' service API."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from services.polls import ballots_store as ballots
from services.polls import definitions as polls
from services.polls import flusher as ballot_flusher


async def make_poll(deps: Deps, org: str = "370000", **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "最美职工评选",
        "options": [{"title": f"候选人{i}", "description": f"简介{i}"} for i in range(1, 5)],
        "opens_at": now() - timedelta(hours=1),
        "closes_at": now() + timedelta(days=7),
        "publish": True,
        "org": org,
    }
    data.update(kw)
    return await polls.create(deps, "370000", data)


async def stored_counts(deps: Deps, poll_id: str) -> dict[str, int]:
    await ballot_flusher.drain(deps)
    return await ballots.option_counts(deps.db, poll_id)


async def wait_flushed(deps: Deps, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await ballots.pending_count(deps.redis) == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("ballots still pending")
