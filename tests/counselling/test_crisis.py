"""Crisis fast path: crisis words in a worker's text get 12356 and 110/120 at once; on-duty counsellor alerted."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from core.deps import Deps
from services import counselling
from services.counselling import booking, desk, duty
from tests.counselling.conftest import INTAKE, late_slots, make_counsellor, member
from tests.wechat_bot.conftest import SimFactory
from tools.fake_wechat import SimResult


def content_of(result: SimResult) -> str:
    assert result.reply is not None, result.text
    return str(result.reply["Content"])


def test_every_crisis_pattern_has_a_trigger_character() -> None:
    """The fast pre-check skips texts without a trigger character: no pattern may lack one."""
    from services.counselling.crisis import CRISIS_PATTERNS, TRIGGERS

    for pattern in CRISIS_PATTERNS:
        literal = re.sub(r"\(\?<?[!=][^)]*\)|[()?|]", "", pattern)
        assert not TRIGGERS.isdisjoint(literal), pattern


def test_crisis_words_and_harmless_look_alikes() -> None:
    for text in (
        "我不想活了",
        "真的活不下去了",
        "我想自杀",
        "自 杀",
        "想 死",
        "我想结束自己的生命",
        "我要跳楼",
        "想自殺",
    ):
        reply = counselling.crisis_reply(text)
        assert reply is not None and "12356" in reply and "110" in reply and "120" in reply, text
        assert "诊断" in reply  # says it is not a diagnosis
    for text in ("我不想活动了", "想死你了", "笑死我了", "心理咨询怎么预约", "工资被拖欠", "工会超市跳楼价"):
        assert counselling.crisis_reply(text) is None, text


async def test_a_crisis_word_in_a_bot_text_gets_the_hotlines_and_alerts_the_on_duty_counsellor(
    deps: Deps, make_sim: SimFactory, fake_wechat: Any
) -> None:
    jinan = await make_counsellor(deps, "duty_jn", org="370100")
    await make_counsellor(deps, "off_jn", org="370100")
    province = await make_counsellor(deps, "duty_sd", org="370000")
    await desk.set_on_duty(deps, jinan, True)
    await desk.set_on_duty(deps, province, True)
    sim = make_sim("safe", "xml")
    code, _ = await duty.new_bind_code(deps, jinan)  # the Jinan counsellor binds their own WeChat
    await sim.send_event("o_duty_phone", "subscribe")  # the counsellor follows the account
    wrong = "000000" if code != "000000" else "111111"
    assert "无效" in content_of(await sim.send_text("o_duty_phone", f"值班绑定 {wrong}"))
    assert "绑定成功" in content_of(await sim.send_text("o_duty_phone", f"值班绑定 {code}"))
    assert "无效" in content_of(await sim.send_text("o_someone", f"值班绑定 {code}"))  # spent
    await sim.send_event("o_worry", "subscribe", EventKey="qrscene_org:370100")
    reply = content_of(await sim.send_text("o_worry", "最近压力太大，我不想活了"))
    assert "12356" in reply and "110" in reply and "120" in reply
    again = content_of(await sim.send_text("o_worry", "真的活不下去"))
    assert "12356" in again
    for _ in range(50):
        alerts = await counselling.for_counsellor(deps, jinan.editor)
        if alerts and alerts[0]["count"] == 2:
            break
        await asyncio.sleep(0.05)
    assert len(alerts) == 1 and alerts[0]["count"] == 2 and "不想活了" in alerts[0]["text"]
    assert await counselling.for_counsellor(deps, province.editor) == []  # the nearest on-duty counsellor
    fake = fake_wechat.state
    for _ in range(50):
        if fake.delivered_count("template"):
            break
        await asyncio.sleep(0.05)
    assert fake.delivered_count("template") == 1  # one WeChat alert for the two messages
    notice = str(fake.last_payload("template", "o_duty_phone"))
    assert "求助" in notice and "不想活" not in notice and "/admin/counselling" in notice
    raw = await deps.db.counselling_alerts.find_one({})
    assert raw["to"] == ["duty_jn"] and "不想活" not in str(raw) and "o_worry" not in str(raw)  # sealed at rest
    taken = await counselling.acknowledge(deps, jinan, alerts[0]["id"])
    assert taken["acknowledged_by"] == "duty_jn"
    assert await deps.db.audit_log.count_documents({"target_id": alerts[0]["id"], "actor": "duty_jn"}) == 1
    ordinary = content_of(await sim.send_text("o_worry", "心理"))
    assert "pages/counselling/index" in ordinary and "12356" not in ordinary  # the keyword reply, unchanged


async def test_an_urgent_intake_answer_shows_the_hotlines_and_alerts(deps: Deps) -> None:
    scope = await make_counsellor(deps, "urgent_xl")
    await desk.set_on_duty(deps, scope, True)
    alice = member("urgent")
    held = await booking.hold(deps, alice, (await late_slots(deps, "urgent_xl", 1))[0])
    done = await booking.confirm(deps, alice, held["id"], INTAKE | {"urgent": True})
    assert done["status"] == "confirmed" and done["crisis_reply"] and "12356" in done["crisis_reply"]
    alerts = await counselling.for_counsellor(deps, scope.editor)
    assert [a["source"] for a in alerts] == ["预约登记"]
    assert (await desk.calendar(deps, scope))[0]["urgent"] is True
