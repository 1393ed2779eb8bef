"""The day's template quota runs out mid-push: the run pauses until midnight Beijing time, says so,
and resumes by itself when the quota returns — nobody twice, nobody left out."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from core import clock
from core.deps import Deps
from services.pushes import control as push_control
from services.pushes import progress as push_progress
from services.pushes.fanout import Fanout
from tests.pushes.conftest import (
    PROVINCE,
    TEMPLATE,
    Clock,
    ids,
    records,
    run_status,
    seed_followers,
    send_now,
    wait_run,
)


def test_next_quota_reset_is_midnight_beijing() -> None:
    evening = clock.now().replace(hour=21, minute=30, second=0, microsecond=0)
    resume = push_control.next_quota_reset(evening)
    assert (resume.hour, resume.minute, resume.date()) == (0, 1, (evening + timedelta(days=1)).date())
    just_after = evening.replace(hour=0, minute=3)  # spent right after a reset: retry soon, not tomorrow
    assert push_control.next_quota_reset(just_after) - just_after == timedelta(minutes=10)


async def test_quota_pause_and_resume(deps: Deps, fake_wechat, fan: Fanout, biz_clock: Clock) -> None:
    state = fake_wechat.state
    state.set_quota("cgi-bin/message/template/send", daily=30)
    openids = ids("oQuota", 50)
    await seed_followers(deps, fake_wechat, openids)
    biz_clock.offset = _seconds_until(21, 0)  # a push started at 21:00 Beijing time
    push_id = await send_now(deps, TEMPLATE)
    await wait_run(deps, push_id, "quota_paused")

    progress = await push_progress.progress(deps, push_id, editor_org=PROVINCE)
    assert progress["status"] == "quota_paused"
    assert progress["sent"] == 30 and progress["total"] == 50
    until = clock.localize(await _paused_until(deps))
    assert (until.hour, until.minute) == (0, 1)
    assert "今日额度已用完" in progress["status_text"] and "自动继续" in progress["status_text"]
    assert progress["paused_until"] == until.isoformat()

    await _still(deps, push_id, "quota_paused")  # the quota is still spent: nothing happens
    assert state.delivered_count("template") == 30

    state.reset_quotas()  # WeChat's new day ...
    biz_clock.offset += 3 * 3600 + 60  # ... and ours: past 00:01
    await wait_run(deps, push_id, "done")
    assert state.delivered_count("template") == 50
    assert state.duplicate_deliveries("template") == []
    recs = await records(deps, push_id)
    assert set(recs) == set(openids) and {r["status"] for r in recs.values()} == {"sent"}


def _seconds_until(hour: int, minute: int) -> float:
    now = clock.now()
    target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target < now:
        target += timedelta(days=1)
    return (target - now).total_seconds()


async def _paused_until(deps: Deps) -> datetime:
    run = await deps.db.push_runs.find_one({"status": "quota_paused"})
    return run["paused_until"]


async def _still(deps: Deps, push_id: str, status: str) -> None:
    for _ in range(10):
        await asyncio.sleep(0.05)
        assert await run_status(deps, push_id) == status
