"""Every message and event type, in plaintext, compatible and safe mode, as XML and as JSON.

WeChat's simulator signs and encrypts each push exactly as WeChat does and decrypts and checks
our reply as WeChat would (signature, app id, addressee), so each assertion is what the worker
would see on their phone.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from core.deps import Deps
from services.consultation import desks as consult_desks
from services.consultation import store as consult_store
from services.consultation.calendar import BusinessCalendar
from tests.wechat_bot.conftest import FORMATS, MODES, SimFactory
from tools.fake_wechat import SimResult, WeChatSimulator

_ids = itertools.count()


def openid() -> str:
    return f"o_kinds_{next(_ids):06d}"


def text_of(r: SimResult) -> str:
    assert r.status == 200 and r.acknowledged, r.errors
    assert r.reply is not None, f"expected a reply, got {r.text!r}"
    assert r.reply["MsgType"] == "text", r.reply
    return str(r.reply["Content"])


def distances(reply: str) -> list[float]:
    """The distances in a nearest-centres reply, in kilometres, in the order shown."""
    found = re.findall(r"（约([\d.]+)(公里|米)）", reply)
    return [float(n) / (1 if unit == "公里" else 1000) for n, unit in found]


def acked(r: SimResult) -> bool:
    return r.status == 200 and r.acknowledged and r.reply is None and r.text in ("success", "")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", MODES)
async def test_every_kind_gets_the_right_answer(make_sim: SimFactory, deps: Deps, mode: str, fmt: str) -> None:
    sim = make_sim(mode, fmt)
    # 人工 transfers to an agent during office hours (outside them: tests/consultation/test_bot.py): always open here.
    always = BusinessCalendar(hours=((0, 1440),), weekdays=frozenset(range(7)))
    await consult_store.put_calendar(deps.db, consult_desks.calendar_to_doc(always, ["370000"]))

    async def send(msg: dict[str, Any]) -> SimResult:
        r = await sim.send(msg)
        if r.reply is not None:
            assert r.reply_format == fmt  # the reply speaks the push's format
        if mode != "plain" and r.reply is not None:
            assert b"<Encrypt>" in r.body or b'"Encrypt"' in r.body  # encrypted on the wire
        return r

    # --- what workers send ---
    vote = text_of(await send(sim.text(openid(), "投票")))
    assert 'data-miniprogram-path="pages/votes/index"' in vote and "齐鲁工惠" in vote
    assert "12351" in text_of(await send(sim.text(openid(), "我想咨询法律问题")))
    assert "心理咨询" in text_of(await send(sim.text(openid(), "最近压力大")))
    assert "绑定会员身份" in text_of(await send(sim.text(openid(), "怎么入会")))
    assert "pages/surveys/index" in text_of(await send(sim.text(openid(), "问卷")))
    assert "pages/activities/index" in text_of(await send(sim.text(openid(), "我要报名")))
    transfer = await send(sim.text(openid(), "人工"))
    assert transfer.reply is not None and transfer.reply["MsgType"] == "transfer_customer_service"
    assert "消息已收到" in text_of(await send(sim.text(openid(), "今天天气不错")))
    assert "消息已收到" in text_of(await send(sim.image(openid(), "http://mmbiz/pic.jpg", "media_img")))
    assert "pages/votes/index" in text_of(await send(sim.voice(openid(), "media_voice", recognition="我要投票。")))
    assert "消息已收到" in text_of(await send(sim.voice(openid(), "media_voice")))
    for msg in (sim.video(openid(), "mv", "thumb"), sim.shortvideo(openid(), "ms", "thumb"),
                sim.link(openid(), "标题", "描述", "https://example.com/a")):  # fmt: skip
        assert "消息已收到" in text_of(await send(msg))
    near = text_of(await send(sim.location(openid(), 36.6683, 117.0204, label="济南市历下区")))
    assert near.splitlines()[1] == "1. 济南市职工服务中心（约5.0公里）"
    assert distances(near) == sorted(distances(near)) and len(distances(near)) == 3
    assert "地址：济南市历下区" in near and "电话：12351" in near

    # --- following and QR codes ---
    assert "欢迎关注“山东工会”" in text_of(await send(sim.event(openid(), "subscribe")))
    bound = text_of(await send(sim.event(openid(), "subscribe", EventKey="qrscene_org:370200", Ticket="t1")))
    assert "欢迎关注" in bound and "青岛市总工会" in bound
    assert acked(await send(sim.event(openid(), "unsubscribe")))
    assert "淄博市总工会" in text_of(await send(sim.event(openid(), "SCAN", EventKey="org:370300", Ticket="t2")))
    assert "签到二维码" in text_of(await send(sim.event(openid(), "SCAN", EventKey="checkin:act-42", Ticket="t3")))
    assert acked(await send(sim.event(openid(), "SCAN", EventKey="something-else")))

    # --- the menu ---
    assert "法律援助" in text_of(await send(sim.click(openid(), "MENU_LEGAL")))
    service = await send(sim.click(openid(), "MENU_SERVICE"))
    assert service.reply is not None and service.reply["MsgType"] == "transfer_customer_service"
    assert "消息已收到" in text_of(await send(sim.click(openid(), "NO_SUCH_KEY")))
    assert acked(await send(sim.event(openid(), "VIEW", EventKey="https://example.com")))
    assert acked(await send(sim.event(openid(), "view_miniprogram", EventKey="pages/index/index", MenuId="1")))
    assert acked(await send(sim.scancode(openid(), "MENU_SCAN", "https://example.com/x")))
    assert "已收到扫码结果：ABC-123" in text_of(await send(sim.scancode(openid(), "MENU_SCAN", "ABC-123", True)))
    for event in ("pic_sysphoto", "pic_photo_or_album", "pic_weixin"):
        assert acked(await send(sim.pics(openid(), "MENU_PIC", ["md5a", "md5b"], event)))
    assert acked(await send(sim.location_select(openid(), "MENU_LOC", 36.07, 120.38, "青岛")))

    # --- the client reports its position: answered once, then quietly recorded ---
    report = sim.event(openid(), "LOCATION", Latitude=36.0671, Longitude=120.3826, Precision=30)
    first = text_of(await send(report))
    assert first.splitlines()[1].startswith("1. 青岛市职工服务中心")
    assert acked(await send({**report, "CreateTime": report["CreateTime"] + 5}))

    # --- platform reports and subscribe-message choices ---
    assert acked(await send(sim.template_finished(openid(), 200123, "failed:user block")))
    job = {"msg_id": 1000001, "Status": "send success", "TotalCount": 3, "FilterCount": 3, "SentCount": 3,
           "ErrorCount": 0}  # fmt: skip
    assert acked(await send(sim.mass_finished(openid(), job)))
    assert acked(await send(sim.subscribe_msg_popup(openid(), {"tmpl_a": "accept", "tmpl_b": "reject"})))
    for event in ("subscribe_msg_change_event", "subscribe_msg_sent_event"):
        assert acked(await send(sim.event(openid(), event, SubscribeMsgChangeEvent={"List": [{"TemplateId": "t"}]})))

    # --- things we do not know: acknowledged, never an error ---
    assert acked(await send({**sim.text(openid(), "x"), "MsgType": "miniprogrampage"}))
    assert acked(await send(sim.event(openid(), "brand_new_event_2030")))


async def test_url_verification_echoes(sim: WeChatSimulator) -> None:
    result = await sim.verify_url("1234567890987654321")
    assert result.acknowledged and result.body == b"1234567890987654321"


async def test_reply_tells_the_account_and_worker_apart(make_sim: SimFactory) -> None:
    sim = make_sim("safe", "json")
    msg = sim.text("o_json_worker", "法律")
    result = await sim.send(msg)
    assert result.reply is not None
    assert result.reply["ToUserName"] == "o_json_worker" and result.reply["FromUserName"] == sim.account
    assert isinstance(result.reply["CreateTime"], int)
    assert "法律" not in result.text  # nothing readable on the wire in safe mode
