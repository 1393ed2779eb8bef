"""Per-recipient outcomes: unsubscribed (43004, follower tombstoned), invalid openid, transient
errors retried, a push-wide error stopping the run once with a reason."""

from __future__ import annotations

from core.deps import Deps
from services.pushes import progress as push_progress
from services.pushes.fanout import Fanout
from tests.pushes.conftest import (
    PROVINCE,
    TEMPLATE,
    ids,
    records,
    run_status,
    seed_followers,
    send_now,
    wait_push,
    wait_run,
)

TEMPLATE_PATH = "cgi-bin/message/template/send"


async def test_unsubscribed_invalid_and_transient(deps: Deps, fake_wechat, fan: Fanout) -> None:
    openids = ids("oOut", 60)
    await seed_followers(deps, fake_wechat, openids)
    state = fake_wechat.state
    state.unfollow(openids[3])  # left without our knowing: WeChat answers 43004
    await seed_followers(deps, fake_wechat, ["oNeverFollowed1"], at_fake=False)  # WeChat: 40003
    state.inject(TEMPLATE_PATH, -1, times=5)  # system busy: retried, never a failure
    push_id = await send_now(deps, TEMPLATE)
    await wait_run(deps, push_id)

    recs = await records(deps, push_id)
    assert len(recs) == 61
    assert recs[openids[3]]["status"] == "skipped" and recs[openids[3]]["errcode"] == 43004
    assert recs[openids[3]]["reason"] == "用户已取消关注"
    assert recs["oNeverFollowed1"]["status"] == "failed" and recs["oNeverFollowed1"]["errcode"] == 40003
    assert sum(r["status"] == "sent" for r in recs.values()) == 59
    assert state.delivered_count("template") == 59 and state.duplicate_deliveries("template") == []
    follower = await deps.db.followers.find_one({"_id": openids[3]})
    assert follower["subscribed"] is False  # marked as gone, like an unfollow event
    progress = await push_progress.progress(deps, push_id, editor_org=PROVINCE)
    assert (progress["sent"], progress["skipped"], progress["failed"], progress["total"]) == (59, 1, 1, 61)


async def test_push_wide_error_fails_the_run_once(deps: Deps, fake_wechat, fan: Fanout) -> None:
    await seed_followers(deps, fake_wechat, ids("oFatal", 120))
    data = {**TEMPLATE, "content": {**TEMPLATE["content"], "template_id": "TPL_DELETED"}}
    push_id = await send_now(deps, data)
    await wait_run(deps, push_id, "failed")
    run = await deps.db.push_runs.find_one({"status": "failed"})
    assert "模板 ID 无效" in run["reason"] and "40037" in run["reason"]
    # Sends already in flight answered 40037 too; none is recorded as a per-recipient failure, and
    # the run stopped well before trying everyone.
    assert await deps.db.push_deliveries.count_documents({}) == 0
    assert fake_wechat.state.count(TEMPLATE_PATH, 40037) < 60

    push = await wait_push(deps, push_id, "failed")
    assert "40037" in push["last_error"]
    assert await run_status(deps, push_id) == "failed"
