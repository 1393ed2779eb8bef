"""The other channels: customer-service (48-hour window), subscribe (consent), mass (drafts, batches
of at most 10,000 with clientmsgid, 4 a month per follower)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from core import clock
from core.deps import Deps
from services.followers.live import seen_key
from services.pushes import progress as push_progress
from services.pushes.fanout import Fanout
from tests.pushes.conftest import PROVINCE, ids, records, seed_followers, send_now, wait_run

CUSTOM = {
    "title": "心理咨询开放时间",
    "channel": "custom",
    "content": {"msgtype": "text", "text": "本周六心理咨询室开放，欢迎预约。"},
    "audience": {"kind": "all"},
}
MASS = {
    "title": "工会要闻",
    "channel": "mass",
    "content": {
        "articles": [{"title": "省总工会召开全委会", "content": "<p>会议内容……</p>", "thumb_media_id": "MEDIA1"}]
    },
    "audience": {"kind": "all"},
}


async def test_custom_only_inside_the_48_hour_window(deps: Deps, fake_wechat, fan: Fanout) -> None:
    now = clock.now()
    recent, old, fresh = ids("oRecent", 10), ids("oOld", 8), ids("oFresh", 3)
    await seed_followers(deps, fake_wechat, recent, last_interaction=now - timedelta(hours=3))
    await seed_followers(deps, fake_wechat, old + fresh, last_interaction=now - timedelta(days=3))
    for openid in fresh:  # talked to us a minute ago: the message path has not flushed it to MongoDB yet
        await deps.redis.hset(seen_key(openid), openid, str(time.time() - 60))
    stale = recent[0]  # WeChat knows better (45015): skipped with its errcode
    fake_wechat.state.touch(stale, time.time() - 50 * 3600)
    push_id = await send_now(deps, CUSTOM)
    await wait_run(deps, push_id)

    recs = await records(deps, push_id)
    assert len(recs) == 21
    sent = {o for o, r in recs.items() if r["status"] == "sent"}
    assert sent == set(recent[1:] + fresh)
    for openid in old:
        assert recs[openid]["status"] == "skipped" and "48 小时" in recs[openid]["reason"]
    assert recs[stale]["status"] == "skipped" and recs[stale]["errcode"] == 45015
    assert fake_wechat.state.delivered_count("custom") == 12
    progress = await push_progress.progress(deps, push_id, editor_org=PROVINCE)
    assert (progress["sent"], progress["skipped"]) == (12, 9)


SUBSCRIBE = {
    "title": "投票结果", "channel": "subscribe", "audience": {"kind": "all"},
    "content": {"template_id": "TPL_VOTE_RESULT", "data": {"thing1": "最美职工", "thing2": "已揭晓"},
                "url": "https://example.org/vote/9"},
}  # fmt: skip


async def subscribe_push(
    deps: Deps, fake_wechat: Any, prefix: str, people: int, consenting: int
) -> tuple[list[str], str]:
    """A subscribe push to `people` followers of whom the first `consenting` agreed; (openids, push id) once done."""
    openids = ids(prefix, people)
    await seed_followers(deps, fake_wechat, openids)
    for openid in openids[:consenting]:
        fake_wechat.state.grant_consent(openid, SUBSCRIBE["content"]["template_id"])
    push_id = await send_now(deps, SUBSCRIBE)
    await wait_run(deps, push_id)
    return openids, push_id


async def test_subscribe_needs_consent(deps: Deps, fake_wechat, fan: Fanout) -> None:
    openids, push_id = await subscribe_push(deps, fake_wechat, "oSub", 6, 4)
    recs = await records(deps, push_id)
    assert sorted(o for o, r in recs.items() if r["status"] == "sent") == openids[:4]
    refused = [recs[o] for o in openids[4:]]
    assert all(r["status"] == "failed" and r["errcode"] == 43101 for r in refused)
    assert refused[0]["reason"] == "用户拒绝接受该订阅消息"


async def test_mass_batches_and_the_monthly_limit(deps: Deps, fake_wechat, fan: Fanout) -> None:
    openids = ids("oMass", 85)
    await seed_followers(deps, fake_wechat, openids)
    push_id = await send_now(deps, MASS)
    await wait_run(deps, push_id)
    state = fake_wechat.state
    calls = state.calls("cgi-bin/message/mass/send")
    # chunks of mass_chunk_size (10,000 live), sent by whichever worker holds them: in any order
    assert sorted(len(c.body["touser"]) for c in calls) == [5, 40, 40]
    assert len({c.body["clientmsgid"] for c in calls}) == 3
    assert len(state.drafts) == 1 and all(c.body["mpnews"]["media_id"] in state.drafts for c in calls)
    assert state.delivered_count("mass") == 85
    recs = await records(deps, push_id)
    assert {r["status"] for r in recs.values()} == {"sent"} and len(recs) == 85

    for _ in range(3):  # three more this month: 4 in all
        await wait_run(deps, await send_now(deps, MASS))
    fifth = await send_now(deps, MASS)
    await wait_run(deps, fifth)
    recs = await records(deps, fifth)
    assert {r["status"] for r in recs.values()} == {"skipped"}
    assert "4 次" in next(iter(recs.values()))["reason"]
    assert state.delivered_count("mass") == 4 * 85
