"""Followers, user info, tags and mini-program login (jscode2session)."""

from __future__ import annotations

import time

from tools.fake_wechat import FakeWeChat

from .conftest import MP, MP_SECRET, OA, Api, FakeClock


async def test_user_get_pages_25000_followers(api: Api, state: FakeWeChat) -> None:
    state.add_followers(["o_first"])
    state.add_numbered_followers(24_998)
    state.add_followers(["o_last"])
    state.unfollow("o_fake_0000005")
    seen: list[str] = []
    next_openid = ""
    pages = []
    while True:
        page = await api.call("cgi-bin/user/get", next_openid=next_openid)
        assert page["total"] == 24_999
        pages.append(page["count"])
        if page["count"] == 0:
            assert page["next_openid"] == "" and "data" not in page
            break
        seen += page["data"]["openid"]
        assert page["next_openid"] == page["data"]["openid"][-1]
        next_openid = page["next_openid"]
    assert pages == [10_000, 10_000, 4_999, 0]
    assert len(seen) == len(set(seen)) == 24_999
    assert seen[0] == "o_first" and seen[-1] == "o_last" and "o_fake_0000005" not in seen
    assert (await api.call("cgi-bin/user/get", next_openid="o_unknown"))["errcode"] == 40003


async def test_million_numbered_followers_are_cheap(state: FakeWeChat) -> None:
    started = time.perf_counter()
    first_last = state.add_numbered_followers(1_000_000)
    assert first_last == ["o_fake_0000000", "o_fake_0999999"]
    assert state.followers.total == 1_000_000 and state.is_follower("o_fake_0999999")
    it = state.followers.iter_after("o_fake_0990000")
    assert it is not None and next(it) == "o_fake_0990001"
    assert time.perf_counter() - started < 0.5


async def test_user_info(api: Api, state: FakeWeChat) -> None:
    state.add_followers(["o_a"], unionids={"o_a": "u_a"}, subscribe_time=1_700_000_000)
    info = await api.call("cgi-bin/user/info", openid="o_a", lang="zh_CN")
    assert info["subscribe"] == 1 and info["openid"] == "o_a" and info["unionid"] == "u_a"
    assert info["subscribe_time"] == 1_700_000_000 and info["tagid_list"] == []
    assert {"remark", "groupid", "subscribe_scene", "qr_scene", "qr_scene_str", "language"} <= set(info)
    assert "nickname" not in info and "headimgurl" not in info
    assert await api.call("cgi-bin/user/info", openid="o_never") == {"subscribe": 0, "openid": "o_never"}
    assert (await api.call("cgi-bin/user/info", openid="not valid!"))["errcode"] == 40003
    batch = await api.call("cgi-bin/user/info/batchget", {"user_list": [{"openid": "o_a"}, {"openid": "o_x"}]})
    assert [u["subscribe"] for u in batch["user_info_list"]] == [1, 0]


async def test_tags(api: Api, state: FakeWeChat) -> None:
    state.add_numbered_followers(60)
    created = await api.call("cgi-bin/tags/create", {"tag": {"name": "济南市总工会"}})
    tag_id = created["tag"]["id"]
    assert created == {"tag": {"id": 100, "name": "济南市总工会"}}
    assert (await api.call("cgi-bin/tags/create", {"tag": {"name": "济南市总工会"}}))["errcode"] == 45157
    openids = [f"o_fake_{i:07d}" for i in range(50)]
    assert (await api.call("cgi-bin/tags/members/batchtagging", {"openid_list": openids, "tagid": tag_id}))[
        "errcode"
    ] == 0
    too_many = [f"o_fake_{i:07d}" for i in range(51)]
    assert (await api.call("cgi-bin/tags/members/batchtagging", {"openid_list": too_many, "tagid": tag_id}))[
        "errcode"
    ] == 40032
    tags = (await api.call("cgi-bin/tags/get"))["tags"]
    assert {"id": tag_id, "name": "济南市总工会", "count": 50} in tags
    assert (await api.call("cgi-bin/tags/getidlist", {"openid": "o_fake_0000001"}))["tagid_list"] == [tag_id]
    members = await api.call("cgi-bin/user/tag/get", {"tagid": tag_id, "next_openid": "o_fake_0000039"})
    assert members["count"] == 10 and members["data"]["openid"][0] == "o_fake_0000040"
    await api.call("cgi-bin/tags/members/batchuntagging", {"openid_list": ["o_fake_0000001"], "tagid": tag_id})
    assert (await api.call("cgi-bin/user/info", openid="o_fake_0000001"))["tagid_list"] == []
    assert (await api.call("cgi-bin/tags/update", {"tag": {"id": 2, "name": "x"}}))["errcode"] == 45058
    assert (await api.call("cgi-bin/tags/delete", {"tag": {"id": 999}}))["errcode"] == 45159
    assert (await api.call("cgi-bin/tags/delete", {"tag": {"id": tag_id}}))["errcode"] == 0
    assert (await api.call("cgi-bin/tags/getidlist", {"openid": "o_fake_0000002"}))["tagid_list"] == []


async def _login(api: Api, code: str, appid: str = MP, secret: str = MP_SECRET) -> dict[str, object]:
    return await api.get(
        "sns/jscode2session", appid=appid, secret=secret, js_code=code, grant_type="authorization_code"
    )


async def test_jscode2session_codes_are_one_time(api: Api, state: FakeWeChat) -> None:
    code = state.mint_js_code("o_mp_1", unionid="u_1")
    first = await _login(api, code)
    assert first["openid"] == "o_mp_1" and first["unionid"] == "u_1" and len(str(first["session_key"])) == 24
    assert await _login(api, code) == {"errcode": 40163, "errmsg": "code been used"}
    assert await _login(api, "garbage") == {"errcode": 40029, "errmsg": "invalid code"}
    # the same user logging in again keeps openid and unionid
    again = await _login(api, state.mint_js_code("o_mp_1"))
    assert again["openid"] == "o_mp_1" and again["unionid"] == "u_1"
    new_user = await _login(api, state.mint_js_code())
    assert str(new_user["openid"]).startswith("o") and "unionid" not in new_user
    test_code = await _login(api, "test:o_mp_2:u_2")
    assert (test_code["openid"], test_code["unionid"]) == ("o_mp_2", "u_2")
    assert (await _login(api, "test:o_mp_2:u_2"))["errcode"] == 40163
    assert (await _login(api, "x", appid=MP, secret="wrong"))["errcode"] == 40125
    assert (await _login(api, "x", appid="wxnope", secret="x"))["errcode"] == 40013
    assert state.count("sns/jscode2session", 0) == 4 and state.calls("sns/jscode2session")[0].appid == MP
    assert "secret" not in state.calls("sns/jscode2session")[0].query


async def test_minted_code_expires_after_five_minutes(api: Api, state: FakeWeChat, clock: FakeClock) -> None:
    code = state.mint_js_code("o_mp_3")
    clock.advance(301)
    assert (await _login(api, code))["errcode"] == 40029
    assert OA in state.accounts
