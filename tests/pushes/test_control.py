"""Editors pause, resume and cancel a push while it sends; live progress on the way."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from core.deps import Deps
from core.errors import Conflict
from services.pushes import compose as pushes
from services.pushes import progress as push_progress
from services.pushes.fanout import Fanout
from tests.pushes.conftest import (
    FAST,
    PROVINCE,
    TEMPLATE,
    Clock,
    ids,
    records,
    seed_followers,
    send_now,
    wait_for,
    wait_push,
    wait_run,
)
from tests.pushes.test_channels import CUSTOM

SLOW = dataclasses.replace(FAST, rate_template=60.0, rate_custom=60.0)


@pytest.fixture
async def slow_fan(deps: Deps) -> AsyncIterator[Fanout]:
    engine = Fanout(deps, SLOW, business_clock=Clock())
    engine.start()
    yield engine
    await engine.stop(grace=5)


def _delivered(fake, n: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return bool(fake.state.delivered_count("template") >= n)

    return check


async def test_pause_resume_with_live_progress(deps: Deps, fake_wechat, slow_fan: Fanout) -> None:
    openids = ids("oPause", 240)
    await seed_followers(deps, fake_wechat, openids)
    push_id = await send_now(deps, TEMPLATE)
    await wait_for(_delivered(fake_wechat, 30), 10, "some deliveries")

    async def counted() -> bool:  # the audience's ranges are cut while the first chunks go out
        return not (await push_progress.progress(deps, push_id, editor_org=PROVINCE))["counting"]

    await wait_for(counted, 10, "the audience counted")
    live = await push_progress.progress(deps, push_id, editor_org=PROVINCE)
    assert live["status"] == "running" and 0 < live["done"] < 240 and live["total"] == 240
    await asyncio.sleep(1.1)  # a whole second of history for the rate
    live = await push_progress.progress(deps, push_id, editor_org=PROVINCE)
    assert 20 < live["rate"] < 200 and live["eta_seconds"] is not None and live["eta_seconds"] > 0

    paused = await pushes.pause(deps, push_id, editor_org=PROVINCE, editor="editor1")
    assert paused["status"] == "paused"
    await asyncio.sleep(0.6)  # in-flight sends finish and are recorded
    frozen = fake_wechat.state.delivered_count("template")
    await asyncio.sleep(0.8)
    assert fake_wechat.state.delivered_count("template") == frozen < 240
    progress = await push_progress.progress(deps, push_id, editor_org=PROVINCE)
    assert progress["status"] == "paused" and progress["status_text"] == "已暂停" and progress["sent"] == frozen
    with pytest.raises(Conflict):
        await pushes.pause(deps, push_id, editor_org=PROVINCE, editor="editor1")

    resumed = await pushes.resume(deps, push_id, editor_org=PROVINCE, editor="editor1")
    assert resumed["status"] == "running"
    await wait_run(deps, push_id)
    assert fake_wechat.state.delivered_count("template") == 240
    assert fake_wechat.state.duplicate_deliveries("template") == []
    await wait_push(deps, push_id, "done")


async def test_cancel_stops_and_reports_the_rest(deps: Deps, fake_wechat, slow_fan: Fanout) -> None:
    openids = ids("oCancel", 100)
    await seed_followers(deps, fake_wechat, openids)
    push_id = await send_now(deps, TEMPLATE)
    await wait_for(_delivered(fake_wechat, 20), 10, "some deliveries")
    cancelled = await pushes.cancel(deps, push_id, editor_org=PROVINCE, editor="editor1")
    assert cancelled["status"] == "cancelled"
    await wait_run(deps, push_id, "cancelled")

    async def settled() -> bool:
        run = await deps.db.push_runs.find_one({"push": push_id})
        return bool(run.get("settled"))

    await wait_for(settled, 5, "the cancelled run's totals")
    await asyncio.sleep(0.3)
    sent = fake_wechat.state.delivered_count("template")
    assert 20 <= sent < 100
    run = await deps.db.push_runs.find_one({"push": push_id})
    assert run["totals"]["sent"] == sent == len(await records(deps, push_id))
    progress = await push_progress.progress(deps, push_id, editor_org=PROVINCE)
    assert progress["status"] == "cancelled" and progress["sent"] == sent
    rows = [r async for r in push_progress.report_rows(deps, push_id, editor_org=PROVINCE)]
    assert len(rows) == 100 and sum(r["status_text"] == "未发送" for r in rows) == 100 - sent
    with pytest.raises(Conflict):
        await pushes.resume(deps, push_id, editor_org=PROVINCE, editor="editor1")


async def test_graceful_stop_leaves_nothing_in_doubt(deps: Deps, fake_wechat) -> None:
    """SIGTERM path: in-flight customer-service sends finish and are recorded, chunks go back clean,
    and the next instance continues without a single "unknown" (the at-most-once rule never bites)."""
    openids = ids("oStop", 150)
    await seed_followers(deps, fake_wechat, openids)
    first = Fanout(deps, SLOW, business_clock=Clock())
    first.start()
    push_id = await send_now(deps, CUSTOM)

    async def some() -> bool:
        return bool(fake_wechat.state.delivered_count("custom") >= 30)

    await wait_for(some, 10, "some deliveries")
    await first.stop(grace=5)
    assert await deps.db.push_chunks.count_documents({"state": "leased"}) == 0
    assert await deps.db.push_chunks.count_documents({"clean": False}) == 0
    second = Fanout(deps, FAST, business_clock=Clock())
    second.start()
    try:
        await wait_run(deps, push_id)
    finally:
        await second.stop()
    recs = await records(deps, push_id)
    assert len(recs) == 150 and {r["status"] for r in recs.values()} == {"sent"}
    assert fake_wechat.state.delivered_count("custom") == 150 and fake_wechat.state.duplicate_deliveries("custom") == []


async def test_two_instances_share_one_push(deps: Deps, fake_wechat) -> None:
    openids = ids("oTwo", 640)
    await seed_followers(deps, fake_wechat, openids)
    engines = [Fanout(deps, FAST, business_clock=Clock()) for _ in range(2)]
    for engine in engines:
        engine.start()
    try:
        push_id = await send_now(deps, TEMPLATE)
        await wait_run(deps, push_id)
    finally:
        for engine in engines:
            await engine.stop()
    assert all(engine.chunks_done > 0 for engine in engines)  # both did work
    assert sum(engine.chunks_done for engine in engines) == 16
    assert fake_wechat.state.delivered_count("template") == 640
    assert fake_wechat.state.duplicate_deliveries("template") == []
    assert len(await records(deps, push_id)) == 640
