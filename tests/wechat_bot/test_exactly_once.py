"""WeChat's retries are processed once: same reply for every delivery, one side effect."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from core.deps import Deps
from core.redis_pipe import RedisPipe
from services.followers.live import follower_tag
from tests.wechat_bot.conftest import SimFactory
from wechat_bot import hooks
from wechat_bot.message import Message
from wechat_bot.setup import get_bot


def slow_checkin(deps: Deps, seconds: float) -> list[tuple[str, str]]:
    """Registers a check-in that takes `seconds`; returns the list of calls it received."""
    calls: list[tuple[str, str]] = []

    async def checkin(openid: str, activity_id: str) -> str:
        calls.append((openid, activity_id))
        await asyncio.sleep(seconds)
        return f"签到成功：活动 {activity_id}，第 {len(calls)} 位"

    hooks.register_checkin(deps, checkin)
    return calls


async def test_three_concurrent_deliveries_one_side_effect_same_reply(make_sim: SimFactory, deps: Deps) -> None:
    calls = slow_checkin(deps, 0.3)
    sim = make_sim("safe")
    scan = sim.event("o_concurrent", "SCAN", EventKey="checkin:act-7", Ticket="t")
    results = await asyncio.gather(*(sim.send(scan) for _ in range(3)))
    assert calls == [("o_concurrent", "act-7")]
    replies = [r.reply for r in results]
    assert all(r is not None for r in replies)
    assert replies[0] == replies[1] == replies[2]
    assert replies[0] is not None and replies[0]["Content"] == "签到成功：活动 act-7，第 1 位"


async def test_a_late_retry_gets_the_stored_reply(make_sim: SimFactory, deps: Deps) -> None:
    sim = make_sim("plain", "json")
    follow = sim.event("o_retry", "subscribe", EventKey="qrscene_org:370100")
    first = await sim.send(follow)
    second = await sim.send(follow)  # WeChat resends when our answer got lost on the way
    assert first.reply == second.reply and first.reply is not None
    stats = await deps.db.follower_stats.find({"org": "370100"}).to_list()
    assert sum(s.get("subscribes", 0) for s in stats) == 1


async def test_retry_takes_over_when_the_first_process_died(make_sim: SimFactory, deps: Deps) -> None:
    # The first delivery's process died after claiming: its claim expires and the retry answers.
    sim = make_sim("safe")
    msg = sim.text("o_orphan", "法律")
    key = Message(msg).dedupe_key
    await deps.redis.set(f"msg:d:{follower_tag('o_orphan')}:{key}", "Pdead-process", px=400)
    started = time.perf_counter()
    result = await sim.send(msg)
    assert result.reply is not None and "12351" in result.reply["Content"]
    assert 0.3 < time.perf_counter() - started < 3


async def test_answers_even_when_redis_is_unreachable(make_sim: SimFactory, deps: Deps) -> None:
    bot = get_bot(deps)
    assert bot is not None
    bot.deduper._pipe = RedisPipe("redis://127.0.0.1:9")  # nothing listens there
    result = await make_sim("safe").send_text("o_no_redis", "投票")
    assert result.reply is not None and "pages/votes/index" in result.reply["Content"]


async def test_metrics_count_retries(make_sim: SimFactory, fetch: Any) -> None:
    sim = make_sim("plain")
    msg = sim.text("o_metrics", "投票")
    await sim.send(msg)
    await sim.send(msg)
    text = (await fetch("/metrics")).body.decode()
    assert 'sdgh_wechat_messages_total{kind="text",outcome="replied"} 1.0' in text
    assert 'sdgh_wechat_messages_total{kind="text",outcome="retry"} 1.0' in text
