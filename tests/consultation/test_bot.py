"""Opening a case by writing to the official account, and 人工 outside office hours (signed callbacks)."""

from __future__ import annotations

from typing import Any

from core.deps import Deps
from services.consultation import desks, store
from services.consultation.calendar import BusinessCalendar
from tests.conftest import AES_KEY, OA_APP_ID, TOKEN
from tests.consultation.conftest import JINAN_FIRM
from tools.fake_wechat import WeChatSimulator

NEVER_OPEN = BusinessCalendar(hours=((0, 1),), weekdays=frozenset(), extra_workdays=frozenset())
ALWAYS_OPEN = BusinessCalendar(hours=((0, 1440),), weekdays=frozenset(range(7)))


def content(r: Any) -> str:
    assert r.status == 200 and r.reply is not None, (r.status, r.text)
    return str(r.reply.get("Content", ""))


async def test_consult_text_then_confirm_opens_one_case(app_server: str, fake_wechat: Any, deps: Deps) -> None:
    sim = WeChatSimulator(
        f"{app_server}/wechat", TOKEN, OA_APP_ID, AES_KEY, "safe", "xml", "gh_x", fake=fake_wechat.state
    )
    oa = "o_bot_worker1"
    fake_wechat.state.add_followers([oa])
    await deps.db.followers.insert_one({"_id": oa, "subscribed": True, "org_path": JINAN_FIRM, "org": JINAN_FIRM[-1]})
    draft = content(await sim.send(sim.text(oa, "咨询 公司拖欠我三个月工资，老板不接电话")))
    assert "（欠薪）" in draft and "回复【确认】" in draft and 'data-miniprogram-path="pages/cases/index"' in draft
    assert await deps.db.consult_cases.count_documents({}) == 0  # nothing opened before the worker confirms
    done = content(await sim.send(sim.text(oa, "确认")))
    assert "已登记您的欠薪咨询" in done and "pages/cases/detail?id=" in done
    again = await sim.send(sim.text(oa, "确认"))  # no draft any more: the ordinary answers take over
    assert "已登记" not in content(again)
    doc = await deps.db.consult_cases.find_one({})
    assert doc is not None and doc["channel"] == "bot" and doc["oa_openid"] == oa and doc["category"] == "wage"
    assert doc["person"] == f"oa:{oa}" and doc["org_path"] == JINAN_FIRM
    assert doc["held"] is True  # no mini-program openid to run msgSecCheck with: a person looks first
    # The same category again is refused in Chinese, through the bot as well.
    content(await sim.send(sim.text(oa, "咨询 还有一个月的工资也没发")))
    assert "已有一个正在处理的“欠薪”咨询" in content(await sim.send(sim.text(oa, "确认")))
    # The legal answer links to the consultation pages.
    assert 'data-miniprogram-path="pages/cases/index"' in content(await sim.send(sim.text(oa, "法律")))
    sim.close()


async def test_human_agent_outside_office_hours_explains_how_to_leave_a_case(
    app_server: str, fake_wechat: Any, deps: Deps
) -> None:
    sim = WeChatSimulator(
        f"{app_server}/wechat", TOKEN, OA_APP_ID, AES_KEY, "plain", "xml", "gh_x", fake=fake_wechat.state
    )
    await store.put_calendar(deps.db, desks.calendar_to_doc(NEVER_OPEN, ["370000"]))
    closed = content(await sim.send(sim.text("o_bot_night", "人工")))
    assert "非工作时间" in closed and "咨询+问题描述" in closed
    await store.put_calendar(deps.db, desks.calendar_to_doc(ALWAYS_OPEN, ["370000"]))
    r = await sim.send(sim.text("o_bot_day", "人工"))
    assert r.reply is not None and r.reply["MsgType"] == "transfer_customer_service"
    sim.close()
