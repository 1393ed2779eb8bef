"""Push pipeline fixtures: followers seeded in MongoDB and at the fake, a fast-ticking fan-out engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import pytest

from core import clock
from core.deps import Deps
from services.pushes import compose as pushes
from services.pushes.fanout import FANOUT, Fanout
from services.pushes.live import Tuning
from tests.support.followers import store_followers

PROVINCE = "370000"
JINAN = "370100"
QINGDAO = "370200"

FAST = Tuning(
    workers=2, window=8, chunk_size=40, mass_chunk_size=40, wm_step=10, flush_size=20, flush_seconds=0.05,
    lease_seconds=3.0, idle_poll=0.05, orphan_scan_seconds=0.2, rate_mass=100.0, supervise_seconds=0.1,
    retry_rounds=2, retry_delay=0.05, snap_ranges=4,
    active_poll_seconds=0.05, receipts_seconds=0.1,
)  # fmt: skip

TEMPLATE = {
    "title": "五一活动通知",
    "channel": "template",
    "content": {
        "template_id": "TPL_ACTIVITY_NOTICE",
        "data": {"thing1": "劳动节健步走", "time2": "2025-05-01"},
        "url": "https://example.org/a/1",
    },  # fmt: skip
    "audience": {"kind": "all"},
    "schedule": {"kind": "now"},
}


class Clock:
    """A business clock the test moves (quota days, the 48-hour window)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> datetime:
        return clock.from_timestamp(time.time() + self.offset)


async def seed_followers(
    deps: Deps, fake: Any, openids: Sequence[str], *, org_path: Sequence[str] = (PROVINCE, JINAN),
    tags: Sequence[int] = (), last_interaction: datetime | None = None, at_fake: bool = True,
) -> None:  # fmt: skip
    now = clock.now()
    docs = [
        {"_id": o, "subscribed": True, "subscribed_at": now, "org": org_path[-1], "org_path": list(org_path),
         "tags": list(tags), "last_interaction_at": last_interaction or now}
        for o in openids
    ]  # fmt: skip
    await store_followers(deps, docs)
    if at_fake:
        fake.state.add_followers(openids, tags=tags)


def ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(n)]


async def wait_for(check: Callable[[], Awaitable[bool]], within: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def run_status(deps: Deps, push_id: str) -> str:
    doc = await deps.db.pushes.find_one({"_id": push_id})
    run = await deps.db.push_runs.find_one({"_id": doc["current_run"]}) if doc and doc.get("current_run") else None
    return str(run["status"]) if run else ""


async def wait_run(deps: Deps, push_id: str, status: str = "done", within: float = 20.0) -> None:
    async def reached() -> bool:
        return await run_status(deps, push_id) == status

    await wait_for(reached, within, f"push {push_id} run {status}")


async def wait_push(deps: Deps, push_id: str, status: str, within: float = 5.0) -> dict[str, Any]:
    """The push document follows its run a moment later (the run's state is mirrored first)."""

    async def reached() -> bool:
        push = await deps.db.pushes.find_one({"_id": push_id})
        return bool(push and push["status"] == status)

    await wait_for(reached, within, f"push {push_id} {status}")
    return dict(await deps.db.pushes.find_one({"_id": push_id}) or {})


async def send_now(deps: Deps, data: dict[str, Any], org: str = PROVINCE) -> str:
    push = await pushes.create(deps, data, editor_org=org, editor="editor1")
    await pushes.submit(deps, push["id"], editor_org=org, editor="editor1")
    return str(push["id"])


async def records(deps: Deps, push_id: str) -> dict[str, dict[str, Any]]:
    """openid -> delivery record of the push's current run."""
    doc = await deps.db.pushes.find_one({"_id": push_id})
    prefix = doc["current_run"] + ":"
    out = {}
    async for rec in deps.db.push_deliveries.find({}):
        if rec["_id"].startswith(prefix):
            out[rec["_id"][len(prefix) :]] = rec
    return out


@pytest.fixture
def biz_clock() -> Clock:
    return Clock()


@pytest.fixture
async def fan(deps: Deps, biz_clock: Clock) -> AsyncIterator[Fanout]:
    engine = Fanout(deps, FAST, business_clock=biz_clock)
    deps.put(FANOUT, engine)
    engine.start()
    yield engine
    await engine.stop(grace=5)
