"""Login through the fake WeChat platform, sessions in Redis, logout, and the error mapping."""

from __future__ import annotations

import json
from typing import Any

from core.deps import Deps
from services.members import sessions_live
from services.members.sessions_live import session_id, user_sessions_key, wechat_session_key_key
from tests.mp.conftest import MpClient


async def test_login_returns_opaque_token_and_never_the_session_key(mp: MpClient, deps: Deps) -> None:
    status, data = await mp.call("POST", "/api/mp/login", {"code": "test:o_alice"})
    assert status == 200
    assert set(data) == {"token", "token_type", "expires_in", "is_new", "bound"}
    assert data["is_new"] is True and data["bound"] is False and data["token_type"] == "Bearer"
    assert len(data["token"]) >= 40
    session_key = mp.fake.state.session_keys["o_alice"]
    assert session_key not in str(data)
    assert await deps.redis.get(wechat_session_key_key("o_alice")) == session_key
    # Only the token's hash is stored: the token itself appears nowhere in Redis.
    key = sessions_live.session_key(data["token"])
    assert key.endswith(":" + session_id(data["token"])) and data["token"] not in key
    assert await deps.redis.exists(key)
    user = await deps.db.mini_users.find_one({"_id": "o_alice"})
    assert user is not None and user["created_at"] and "session_key" not in user
    # A second login is not new and gives another, independent session.
    status, again = await mp.call("POST", "/api/mp/login", {"code": mp.fake.state.mint_js_code("o_alice")})
    assert status == 200 and again["token"] != data["token"]


async def test_me_requires_a_session(mp: MpClient) -> None:
    status, data = await mp.call("GET", "/api/mp/me")
    assert status == 401 and data == {"code": "unauthorized", "message": "请先登录"}
    status, data = await mp.call("GET", "/api/mp/me", token="not-a-real-token")
    assert status == 401 and data["message"] == "登录已过期，请重新登录"
    status, data = await mp.call("GET", "/api/mp/me", headers={"Authorization": "Basic abc"})
    assert status == 401
    token = await mp.login("o_bob")
    status, data = await mp.call("GET", "/api/mp/me", token=token)
    assert status == 200
    assert data["bound"] is False and "member" not in data
    assert data["org_path"] == [{"code": "370000", "name": "山东省总工会", "level": "province"}]


async def test_used_or_invalid_code_is_a_400_that_says_log_in_again(mp: MpClient) -> None:
    assert (await mp.call("POST", "/api/mp/login", {"code": "test:o_carol"}))[0] == 200
    status, data = await mp.call("POST", "/api/mp/login", {"code": "test:o_carol"})
    assert status == 400 and data == {"code": "invalid_code", "message": "登录凭证无效或已使用，请重新登录"}
    status, data = await mp.call("POST", "/api/mp/login", {"code": "never-minted"})
    assert status == 400 and data["code"] == "invalid_code"
    code = mp.fake.state.mint_js_code("o_dave")
    assert (await mp.call("POST", "/api/mp/login", {"code": code}))[0] == 200


async def test_wechat_busy_or_down_is_a_503(mp: MpClient) -> None:
    mp.fake.state.inject("sns/jscode2session", -1, times=10)
    status, data = await mp.call("POST", "/api/mp/login", {"code": "test:o_erin"})
    assert status == 503 and data["code"] == "wechat_unavailable" and "稍后" in data["message"]
    mp.fake.state.clear_faults()
    mp.fake.state.inject_http_status("sns/jscode2session", 502, times=10)
    status, data = await mp.call("POST", "/api/mp/login", {"code": "test:o_erin2"})
    assert status == 503


async def test_bad_login_bodies_are_400_with_a_chinese_message(mp: MpClient) -> None:
    cases: list[tuple[Any, str]] = [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ({}, "invalid_field"),
        ({"code": 42}, "invalid_field"),
        ({"code": ""}, "invalid_field"),
        ({"code": "x", "extra": 1}, "invalid_field"),
        ({"code": "x" * 500}, "invalid_field"),
    ]
    for body, code in cases:
        status, data = await mp.call("POST", "/api/mp/login", body)
        assert status == 400, body
        assert data["code"] == code, body
        assert any("\u4e00" <= ch <= "\u9fff" for ch in data["message"]), data
    status, data = await mp.call("POST", "/api/mp/login", None)
    assert status == 400 and data["code"] == "invalid_json"


async def test_unsupported_method_is_405_with_allow(mp: MpClient, fetch: Any) -> None:
    resp = await fetch("/api/mp/login", method="GET")
    assert resp.code == 405 and resp.headers["Allow"] == "POST"


async def test_logout_revokes_this_session_only_and_all_revokes_every_one(mp: MpClient, deps: Deps) -> None:
    phone, pc, tablet = [await mp.login("o_frank") for _ in range(3)]
    assert (await mp.call("POST", "/api/mp/logout", token=phone))[0] == 200
    assert (await mp.call("GET", "/api/mp/me", token=phone))[0] == 401
    assert (await mp.call("GET", "/api/mp/me", token=pc))[0] == 200
    assert (await mp.call("POST", "/api/mp/logout", {"all": True}, token=pc))[0] == 200
    assert (await mp.call("GET", "/api/mp/me", token=tablet))[0] == 401
    assert not await deps.redis.exists(user_sessions_key("o_frank"), wechat_session_key_key("o_frank"))


async def test_session_expires_when_idle_and_absolutely(mp: MpClient, deps: Deps) -> None:
    token = await mp.login("o_gina")
    key = sessions_live.session_key(token)
    await deps.redis.expire(key, 3)
    assert (await mp.call("GET", "/api/mp/me", token=token))[0] == 200
    assert await deps.redis.ttl(key) > 86400  # sliding: use extends it
    await deps.redis.hset(key, "abs", "1")  # past its absolute lifetime
    assert (await mp.call("GET", "/api/mp/me", token=token))[0] == 401
    assert not await deps.redis.exists(key)


async def test_sessions_per_user_are_capped(mp: MpClient, deps: Deps) -> None:
    tokens = [await mp.login("o_hank") for _ in range(12)]
    assert await deps.redis.zcard(user_sessions_key("o_hank")) == 10
    assert (await mp.call("GET", "/api/mp/me", token=tokens[-1]))[0] == 200


async def test_unionid_links_the_official_account_follower(mp: MpClient, deps: Deps) -> None:
    await deps.db.followers.insert_one({"_id": "oa_ivy", "subscribed": True, "unionid": "u_ivy", "tags": []})
    token = await mp.login("o_ivy", unionid="u_ivy")
    user = await deps.db.mini_users.find_one({"_id": "o_ivy"})
    assert user is not None and user["unionid"] == "u_ivy" and user["follower_openid"] == "oa_ivy"
    status, data = await mp.call("GET", "/api/mp/me", token=token)
    assert data["official_account_linked"] is True
    token = await mp.login("o_jack")
    assert (await mp.call("GET", "/api/mp/me", token=token))[1]["official_account_linked"] is False


async def test_login_is_rate_limited_per_ip(mp: MpClient, monkeypatch: Any) -> None:
    from miniprogram_api import auth

    monkeypatch.setattr(auth, "LOGIN_PER_IP_PER_MINUTE", 3)
    for i in range(3):
        assert (await mp.call("POST", "/api/mp/login", {"code": f"test:o_k{i}"}))[0] == 200
    resp = await mp.fetch("/api/mp/login", method="POST", body='{"code": "test:o_k9"}')
    assert resp.code == 429 and int(resp.headers["Retry-After"]) >= 1
    assert "频繁" in resp.body.decode()


async def test_redis_or_mongodb_down_is_a_503_to_retry(mp: MpClient, monkeypatch: Any) -> None:
    from pymongo.errors import ServerSelectionTimeoutError
    from redis.exceptions import ConnectionError as RedisConnectionError

    from services.members import binding as members
    from services.members import sessions

    token = await mp.login("o_outage")

    async def redis_down(*_: Any) -> None:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(sessions, "authenticate", redis_down)
    resp = await mp.fetch("/api/mp/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.code == 503 and resp.headers["Retry-After"] == "5"
    assert json.loads(resp.body) == {"code": "unavailable", "message": "服务繁忙，请稍后重试"}
    monkeypatch.undo()

    async def mongo_down(*_: Any) -> None:
        raise ServerSelectionTimeoutError("no servers")

    monkeypatch.setattr(members, "me", mongo_down)
    status, data = await mp.call("GET", "/api/mp/me", token=token)
    assert status == 503 and data["code"] == "unavailable"
