"""Menus, QR codes, content security, drafts/publishing, media and unknown APIs."""

from __future__ import annotations

import struct
import zlib
from typing import Any

from tools.fake_wechat import FakeWeChat

from .conftest import Api, FakeClock

MENU = [
    {"type": "click", "name": "我的活动", "key": "MY_ACTIVITIES"},
    {
        "name": "服务",
        "sub_button": [
            {"type": "view", "name": "工会官网", "url": "https://www.sdgh.org.cn"},
            {
                "type": "miniprogram",
                "name": "齐鲁工惠",
                "url": "https://www.sdgh.org.cn",
                "appid": "wxdemo0000000mp",
                "pagepath": "pages/index/index",
            },  # fmt: skip
            {"type": "scancode_push", "name": "扫码签到", "key": "CHECKIN"},
        ],
    },
]


async def test_menu_create_get_delete(api: Api) -> None:
    assert (await api.call("cgi-bin/menu/get"))["errcode"] == 46003
    assert await api.call("cgi-bin/menu/create", {"button": MENU}) == {"errcode": 0, "errmsg": "ok"}
    got = await api.call("cgi-bin/menu/get")
    assert got == {"menu": {"button": MENU}}
    cond = await api.call("cgi-bin/menu/addconditional", {"button": MENU[:1], "matchrule": {"tag_id": "100"}})
    menuid = cond["menuid"]
    assert isinstance(menuid, str)
    got = await api.call("cgi-bin/menu/get")
    assert got["conditionalmenu"][0]["matchrule"] == {"tag_id": "100"} and "menuid" in got["menu"]
    assert (await api.call("cgi-bin/menu/delconditional", {"menuid": menuid}))["errcode"] == 0
    assert (await api.call("cgi-bin/menu/delconditional", {"menuid": menuid}))["errcode"] == 65301
    assert (await api.call("cgi-bin/menu/delete"))["errcode"] == 0
    assert (await api.call("cgi-bin/menu/get"))["errcode"] == 46003


async def test_menu_validation(api: Api) -> None:
    async def create(buttons: Any) -> int:
        return int((await api.call("cgi-bin/menu/create", {"button": buttons}))["errcode"])

    click = {"type": "click", "name": "a", "key": "K"}
    assert await create([]) == 40016
    assert await create([click] * 4) == 40016
    assert await create([{"type": "hover", "name": "a", "key": "K"}]) == 40017
    assert await create([{**click, "name": "这是一个特别长的菜单名字"}]) == 40018  # > 16 bytes
    assert await create([{**click, "key": ""}]) == 40019
    assert await create([{"type": "view", "name": "a"}]) == 40020
    assert await create([{"name": "a", "sub_button": [click] * 6}]) == 40023
    assert await create([{"name": "a", "sub_button": [{**click, "type": "nope"}]}]) == 40024
    assert await create([{"name": "a", "sub_button": [{**click, "name": "长" * 21}]}]) == 40025
    assert await create([{"type": "miniprogram", "name": "a", "url": "https://x"}]) == 40097
    assert await create([{"type": "get", "name": "a", "url": "https://x"}]) == 40017
    assert (await api.call("cgi-bin/menu/addconditional", {"button": [click], "matchrule": {"tag_id": "1"}}))[
        "errcode"
    ] == 65303  # needs a default menu first
    await create([click])
    sex_rule = await api.call("cgi-bin/menu/addconditional", {"button": [click], "matchrule": {"sex": "1"}})
    assert sex_rule["errcode"] == 65320
    empty = await api.call("cgi-bin/menu/addconditional", {"button": [click], "matchrule": {}})
    assert empty["errcode"] == 65304


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        chunks.append((kind, body))
        pos += 12 + length
    assert [c[0] for c in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert len(zlib.decompress(chunks[1][1])) == height * (width + 1)
    return width, height


async def test_qrcode_and_showqrcode(api: Api, state: FakeWeChat, clock: FakeClock) -> None:
    temp = {
        "expire_seconds": 3600,
        "action_name": "QR_STR_SCENE",
        "action_info": {"scene": {"scene_str": "org:370100"}},
    }
    made = await api.call("cgi-bin/qrcode/create", temp)
    assert made["expire_seconds"] == 3600 and made["url"].startswith("http://weixin.qq.com/q/")
    assert state.ticket_scene(made["ticket"]) == "org:370100"
    resp = await api.raw("GET", "cgi-bin/showqrcode", ticket=made["ticket"])
    assert resp.code == 200 and resp.headers["Content-Type"] == "image/png"
    assert _png_size(resp.body) == (116, 116)
    perm = {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 42}}}
    made_perm = await api.call("cgi-bin/qrcode/create", perm)
    assert "expire_seconds" not in made_perm and state.ticket_scene(made_perm["ticket"]) == "42"
    too_big = {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100_001}}}
    assert (await api.call("cgi-bin/qrcode/create", too_big))["errcode"] == 40053
    long_str = {"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "x" * 65}}}
    assert (await api.call("cgi-bin/qrcode/create", long_str))["errcode"] == 40053
    capped = await api.call("cgi-bin/qrcode/create", {**temp, "expire_seconds": 9_999_999})
    assert capped["expire_seconds"] == 2_592_000
    default = await api.call("cgi-bin/qrcode/create", {**temp, "expire_seconds": None})
    assert default["expire_seconds"] == 60
    clock.advance(3601)
    assert (await api.raw("GET", "cgi-bin/showqrcode", ticket=made["ticket"])).code == 404


async def test_msg_sec_check_v2(api: Api, state: FakeWeChat) -> None:
    body = {"content": "周末一起去打球", "version": 2, "scene": 2, "openid": "o_mp_1"}
    ok = await api.call("wxa/msg_sec_check", body)
    assert ok["errcode"] == 0 and ok["result"] == {"suggest": "pass", "label": 100} and ok["detail"]
    risky = await api.call("wxa/msg_sec_check", {**body, "content": "网络赌博群"})
    assert risky["result"] == {"suggest": "risky", "label": 20006}
    assert any(d.get("keyword") == "赌博" for d in risky["detail"])
    state.banned_words["罢工"] = 20001
    assert (await api.call("wxa/msg_sec_check", {**body, "content": "罢工"}))["result"]["label"] == 20001
    no_openid = {k: v for k, v in body.items() if k != "openid"}
    assert (await api.call("wxa/msg_sec_check", no_openid))["errcode"] == 47001


async def test_drafts_and_freepublish(api: Api) -> None:
    art = {"title": "劳模风采", "author": "省总工会", "content": "<p>正文</p>", "thumb_media_id": "THUMB"}
    media_id = (await api.call("cgi-bin/draft/add", {"articles": [art]}))["media_id"]
    got = await api.call("cgi-bin/draft/get", {"media_id": media_id})
    assert got["news_item"][0]["title"] == "劳模风采" and "url" in got["news_item"][0]
    assert (await api.call("cgi-bin/draft/add", {"articles": [{**art, "thumb_media_id": ""}]}))["errcode"] == 40007
    submitted = await api.call("cgi-bin/freepublish/submit", {"media_id": media_id})
    assert submitted["errcode"] == 0 and {"publish_id", "msg_data_id"} <= set(submitted)
    status = await api.call("cgi-bin/freepublish/get", {"publish_id": submitted["publish_id"]})
    assert status["publish_status"] == 0 and status["article_detail"]["count"] == 1 and status["article_id"]
    assert (await api.call("cgi-bin/freepublish/submit", {"media_id": "nope"}))["errcode"] == 40007
    assert (await api.call("cgi-bin/draft/delete", {"media_id": media_id}))["errcode"] == 0
    assert (await api.call("cgi-bin/draft/get", {"media_id": media_id}))["errcode"] == 40007


async def test_media_uploads_accept_any_body(api: Api) -> None:
    tok = await api.token()
    resp = await api.raw("POST", "cgi-bin/media/uploadimg", b"--boundary\r\nbinary", access_token=tok)
    assert resp.code == 200 and b"mmbiz.qpic.cn" in resp.body
    material = await api.post("cgi-bin/material/add_material", b"\x89PNG...", access_token=tok, type="image")
    assert material["media_id"] and material["url"]


async def test_unknown_api_and_method(api: Api, state: FakeWeChat) -> None:
    answer = await api.call("cgi-bin/no/such/api", {"x": 1})
    assert answer == {"errcode": 99999, "errmsg": "fake wechat: no such API cgi-bin/no/such/api"}
    assert (await api.call("cgi-bin/message/template/send"))["errcode"] == 43002  # GET on a POST API
    assert state.count("cgi-bin/no/such/api", 99999) == 1


async def test_recording_and_rid(api: Api, state: FakeWeChat) -> None:
    state.add_followers(["o_a"])
    await api.call("cgi-bin/user/info", openid="o_a")
    rec = state.calls("cgi-bin/user/info")[-1]
    assert rec.query == {"openid": "o_a"} and rec.errcode == 0 and rec.appid == "wxdemo0000000oa"
    state.record_calls = False
    await api.call("cgi-bin/user/info", openid="o_a")
    assert len(state.calls("cgi-bin/user/info")) == 1 and state.count("cgi-bin/user/info") == 2
    state.append_rid = True
    bad = await api.call("cgi-bin/user/info", openid="bad openid")
    assert bad["errmsg"].startswith("invalid openid rid: ")
