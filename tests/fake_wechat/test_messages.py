"""Outbound message rules: follower checks, the 48 h window, template/mass idempotency, consent."""

from __future__ import annotations

from typing import Any

from tools.fake_wechat import FakeWeChat

from .conftest import MP, Api, FakeClock


def _template(openid: str, **extra: Any) -> dict[str, Any]:
    return {
        "touser": openid,
        "template_id": "TPL_ACTIVITY_NOTICE",
        "data": {"thing1": {"value": "职工运动会"}},
        **extra,
    }


def _text(openid: str) -> dict[str, Any]:
    return {"touser": openid, "msgtype": "text", "text": {"content": "你好"}}


async def test_custom_send_checks_followers(api: Api, state: FakeWeChat) -> None:
    state.add_followers(["o_a", "o_b"])
    state.unfollow("o_b")
    assert await api.call("cgi-bin/message/custom/send", _text("o_a")) == {"errcode": 0, "errmsg": "ok"}
    assert await api.call("cgi-bin/message/custom/send", _text("o_b")) == {
        "errcode": 43004,
        "errmsg": "require subscribe",
    }
    assert (await api.call("cgi-bin/message/custom/send", _text("o_nobody")))["errcode"] == 40003
    assert (await api.call("cgi-bin/message/custom/send", _text("bad openid!")))["errcode"] == 40003
    assert state.deliveries["custom"] == {"o_a": 1}
    assert state.last_payload("custom", "o_a")["text"]["content"] == "你好"
    bad_type = {"touser": "o_a", "msgtype": "sticker", "sticker": {}}
    assert (await api.call("cgi-bin/message/custom/send", bad_type))["errcode"] == 40008


async def test_custom_send_48_hour_window(api: Api, state: FakeWeChat, clock: FakeClock) -> None:
    state.add_followers(["o_a", "o_new"])
    state.touch("o_a")
    clock.advance(47 * 3600)
    assert (await api.call("cgi-bin/message/custom/send", _text("o_a")))["errcode"] == 0
    clock.advance(2 * 3600)
    expired = await api.call("cgi-bin/message/custom/send", _text("o_a"))
    assert expired == {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"}
    # no interaction ever recorded: allowed unless the window is enforced
    assert (await api.call("cgi-bin/message/custom/send", _text("o_new")))["errcode"] == 0
    state.enforce_cs_window = True
    assert (await api.call("cgi-bin/message/custom/send", _text("o_new")))["errcode"] == 45015
    state.touch("o_new")
    for _ in range(5):
        assert (await api.call("cgi-bin/message/custom/send", _text("o_new")))["errcode"] == 0
    assert (await api.call("cgi-bin/message/custom/send", _text("o_new")))["errcode"] == 45047


async def test_template_send_and_client_msg_id_dedupe(api: Api, state: FakeWeChat, clock: FakeClock) -> None:
    state.add_followers(["o_a"])
    first = await api.call("cgi-bin/message/template/send", _template("o_a", client_msg_id="push1:o_a"))
    assert first["errcode"] == 0 and first["errmsg"] == "ok" and isinstance(first["msgid"], int)
    again = await api.call("cgi-bin/message/template/send", _template("o_a", client_msg_id="push1:o_a"))
    assert again == first
    assert state.delivered_count("template") == 1 and state.duplicate_deliveries("template") == []
    # without client_msg_id every call is a new message
    plain1 = await api.call("cgi-bin/message/template/send", _template("o_a"))
    plain2 = await api.call("cgi-bin/message/template/send", _template("o_a"))
    assert plain1["msgid"] != plain2["msgid"]
    assert state.duplicate_deliveries("template") == ["o_a"]
    # after 10 minutes the same client_msg_id sends again
    clock.advance(601)
    later = await api.call("cgi-bin/message/template/send", _template("o_a", client_msg_id="push1:o_a"))
    assert later["msgid"] != first["msgid"] and state.delivered_count("template") == 4


async def test_template_errors(api: Api, state: FakeWeChat) -> None:
    state.add_followers(["o_a", "o_gone"])
    state.unfollow("o_gone")
    unknown = await api.call("cgi-bin/message/template/send", {**_template("o_a"), "template_id": "NOPE"})
    assert unknown == {"errcode": 40037, "errmsg": "invalid template_id"}
    assert (await api.call("cgi-bin/message/template/send", _template("o_gone")))["errcode"] == 43004
    assert (await api.call("cgi-bin/message/template/send", _template("o_stranger")))["errcode"] == 40003
    assert (await api.call("cgi-bin/message/template/send", b"{not json"))["errcode"] == 47001
    assert (await api.call("cgi-bin/message/template/send", b""))["errcode"] == 44002
    assert state.delivered_count("template") == 0


async def test_template_daily_quota(api: Api, state: FakeWeChat) -> None:
    state.add_numbered_followers(5)
    state.set_quota("cgi-bin/message/template/send", daily=3)
    codes = [
        (await api.call("cgi-bin/message/template/send", _template(f"o_fake_{i:07d}")))["errcode"] for i in range(5)
    ]
    assert codes == [0, 0, 0, 45009, 45009]
    state.lift_limits()
    assert (await api.call("cgi-bin/message/template/send", _template("o_fake_0000004")))["errcode"] == 0


async def test_subscribe_messages_need_consent(api: Api, state: FakeWeChat) -> None:
    body = {"touser": "o_mp_user", "template_id": "SUB_TPL", "page": "pages/index", "data": {"thing1": {"value": "x"}}}
    refused = await api.call("cgi-bin/message/subscribe/send", body, appid=MP)
    assert refused == {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
    state.grant_consent("o_mp_user", "SUB_TPL")
    sent = await api.call("cgi-bin/message/subscribe/send", body, appid=MP)
    assert sent["errcode"] == 0 and "msgid" in sent
    assert (await api.call("cgi-bin/message/subscribe/send", body, appid=MP))["errcode"] == 43101  # one-time
    state.auto_consent = True
    assert (await api.call("cgi-bin/message/subscribe/bizsend", body))["errcode"] == 0
    assert state.delivered_count("subscribe") == 2


async def _draft(api: Api) -> str:
    art = {"title": "劳模风采", "content": "<p>正文</p>", "thumb_media_id": "THUMB"}
    return str((await api.call("cgi-bin/draft/add", {"articles": [art]}))["media_id"])


async def test_mass_send_limits_and_clientmsgid(api: Api, state: FakeWeChat, clock: FakeClock) -> None:
    state.add_followers(["o_1", "o_2", "o_3"])
    media_id = await _draft(api)
    body = {"touser": ["o_1", "o_2"], "msgtype": "mpnews", "mpnews": {"media_id": media_id}, "send_ignore_reprint": 0}
    sent = await api.call("cgi-bin/message/mass/send", {**body, "clientmsgid": "push-42"})
    assert sent["errcode"] == 0 and sent["errmsg"] == "send job submission success"
    assert {"msg_id", "msg_data_id"} <= set(sent)
    dup = await api.call("cgi-bin/message/mass/send", {**body, "clientmsgid": "push-42"})
    assert dup == {"errcode": 45065, "errmsg": "clientmsgid exist"}
    clock.advance(86401)
    assert (await api.call("cgi-bin/message/mass/send", {**body, "clientmsgid": "push-42"}))["errcode"] == 0
    one = await api.call("cgi-bin/message/mass/send", {**body, "touser": ["o_1"]})
    assert one["errcode"] == 40130
    status = await api.call("cgi-bin/message/mass/get", {"msg_id": sent["msg_id"]})
    assert status == {"msg_id": sent["msg_id"], "msg_status": "SEND_SUCCESS"}
    unknown_media = await api.call("cgi-bin/message/mass/send", {**body, "mpnews": {"media_id": "nope"}})
    assert unknown_media["errcode"] == 40007


async def test_mass_four_per_month_filter(api: Api, state: FakeWeChat, clock: FakeClock) -> None:
    state.add_followers(["o_1", "o_2"])
    text = {"msgtype": "text", "text": {"content": "通知"}}
    for _ in range(4):
        assert (await api.call("cgi-bin/message/mass/send", {"touser": ["o_1", "o_2"], **text}))["errcode"] == 0
    state.add_followers(["o_3"])
    fifth = await api.call("cgi-bin/message/mass/sendall", {"filter": {"is_to_all": True}, **text})
    job = state.mass_jobs[fifth["msg_id"]]
    assert (job["TotalCount"], job["FilterCount"], job["SentCount"], job["ErrorCount"]) == (3, 1, 1, 0)
    assert state.deliveries["mass"] == {"o_1": 4, "o_2": 4, "o_3": 1}
    clock.advance(32 * 86400)  # next month
    again = await api.call("cgi-bin/message/mass/send", {"touser": ["o_1", "o_2"], **text})
    assert state.mass_jobs[again["msg_id"]]["SentCount"] == 2


async def test_mass_sendall_by_tag_and_rate_limit(api: Api, state: FakeWeChat) -> None:
    state.add_numbered_followers(10)
    tag = (await api.call("cgi-bin/tags/create", {"tag": {"name": "劳模"}}))["tag"]["id"]
    state.add_followers(["o_tagged"], tags=[tag])
    text = {"msgtype": "text", "text": {"content": "通知"}}
    by_tag = await api.call("cgi-bin/message/mass/sendall", {"filter": {"is_to_all": False, "tag_id": tag}, **text})
    assert state.mass_jobs[by_tag["msg_id"]]["SentCount"] == 1
    state.set_quota("cgi-bin/message/mass/sendall", per_minute=2)
    codes = [
        (await api.call("cgi-bin/message/mass/sendall", {"filter": {"is_to_all": True}, **text}))["errcode"]
        for _ in range(2)
    ]
    assert codes == [0, 45011]
    preview = await api.call("cgi-bin/message/mass/preview", {"touser": "o_tagged", **text})
    assert preview["errmsg"] == "preview success" and state.deliveries["preview"] == {"o_tagged": 1}
