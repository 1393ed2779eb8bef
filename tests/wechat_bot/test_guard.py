"""The 5-second guard: a slow answer becomes "success" in time and arrives as a customer-service message."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from core.deps import Deps
from tests.wechat_bot.conftest import SimFactory
from wechat_bot import hooks


async def test_slow_answer_is_success_now_and_a_message_later(
    make_sim: SimFactory, deps: Deps, fake_wechat: Any
) -> None:
    calls: list[str] = []

    async def slow_checkin(openid: str, activity_id: str) -> str:
        calls.append(activity_id)
        await asyncio.sleep(4.6)  # a slow mini-program service: past our 4 s guard
        return "签到成功：职工运动会（东区）"

    hooks.register_checkin(deps, slow_checkin)
    sim = make_sim("safe")
    follow = sim.event("o_slow_worker", "subscribe", EventKey="qrscene_checkin:sports-2025")
    started = time.perf_counter()
    result = await sim.send(follow)
    elapsed = time.perf_counter() - started
    assert result.acknowledged and result.attempts == 1 and not result.failed  # no "暂时无法提供服务"
    assert result.reply is None and result.text == "success"
    assert 3.5 < elapsed < 4.8

    # WeChat's retry (or any duplicate) while the answer is still being prepared: success, no rerun.
    again = await sim.send(follow)
    assert again.text == "success" and calls == ["sports-2025"]

    state = fake_wechat.state
    for _ in range(80):  # up to 4 s for the slow check-in to finish and the message to go out
        if state.delivered_count("custom"):
            break
        await asyncio.sleep(0.05)
    payload = state.last_payload("custom", "o_slow_worker")
    assert payload is not None, "the late answer never reached WeChat's customer-service API"
    assert payload["msgtype"] == "text"
    assert "欢迎关注" in payload["text"]["content"] and "签到成功：职工运动会（东区）" in payload["text"]["content"]
    await asyncio.sleep(0.2)
    assert state.delivered_count("custom") == 1 and not state.duplicate_deliveries("custom")
