"""access_token rules: cgi-bin/token grace, stable_token, 40001/42001/41001, quotas, injection."""

from __future__ import annotations

import time

from tools.fake_wechat import FakeWeChat

from .conftest import MP, OA, OA_SECRET, Api, FakeClock


async def test_token_issues_a_new_token_and_the_old_one_lives_300s(api: Api, clock: FakeClock) -> None:
    first = await api.fetch_token()
    assert first["expires_in"] == 7200 and len(first["access_token"]) > 100
    second = await api.fetch_token()
    assert second["access_token"] != first["access_token"]

    async def user_get(token: str) -> int:
        return int((await api.get("cgi-bin/user/get", access_token=token)).get("errcode", 0))

    assert await user_get(first["access_token"]) == 0  # within the grace period
    clock.advance(299)
    assert await user_get(first["access_token"]) == 0
    clock.advance(2)
    assert await user_get(first["access_token"]) == 40001
    assert await user_get(second["access_token"]) == 0


async def test_token_expires_after_ttl_with_42001(api: Api, state: FakeWeChat, clock: FakeClock) -> None:
    state.token_ttl = 60
    tok = (await api.fetch_token())["access_token"]
    clock.advance(61)
    answer = await api.get("cgi-bin/user/get", access_token=tok)
    assert answer == {"errcode": 42001, "errmsg": "access_token expired"}


async def test_missing_unknown_and_invalidated_tokens(api: Api, state: FakeWeChat) -> None:
    assert (await api.get("cgi-bin/user/get"))["errcode"] == 41001
    bogus = await api.get("cgi-bin/user/get", access_token="nope")
    assert bogus == {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
    tok = await api.token()
    state.invalidate_tokens()
    assert (await api.get("cgi-bin/user/get", access_token=tok))["errcode"] == 40001
    tok2 = (await api.fetch_token())["access_token"]
    state.expire_tokens()
    assert (await api.get("cgi-bin/user/get", access_token=tok2))["errcode"] == 42001


async def test_bad_credentials(api: Api) -> None:
    assert (await api.fetch_token("wxnosuchapp", "x"))["errcode"] == 40013
    bad = await api.fetch_token(OA, "wrong")
    assert bad == {"errcode": 40125, "errmsg": "invalid appsecret"}
    wrong_grant = await api.get("cgi-bin/token", grant_type="x", appid=OA, secret=OA_SECRET)
    assert wrong_grant["errcode"] == 40002


async def test_token_daily_quota_and_next_day(api: Api, state: FakeWeChat) -> None:
    state.set_quota("cgi-bin/token", daily=3)
    for _ in range(3):
        assert "access_token" in await api.fetch_token()
    over = await api.fetch_token()
    assert over == {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
    assert state.token_fetches(OA) == 4
    state.reset_quotas()
    assert "access_token" in await api.fetch_token()


async def test_quota_resets_at_beijing_midnight(api: Api, state: FakeWeChat, clock: FakeClock) -> None:
    state.set_quota("cgi-bin/token", daily=1)
    clock.t = 20_260 * 86400 - 8 * 3600 - 10.0  # 23:59:50 in Beijing (UTC+8)
    assert "access_token" in await api.fetch_token()
    assert (await api.fetch_token())["errcode"] == 45009
    clock.advance(20)
    assert "access_token" in await api.fetch_token()


async def test_stable_token_returns_the_same_token_while_valid(api: Api, clock: FakeClock) -> None:
    body = {"grant_type": "client_credential", "appid": OA, "secret": OA_SECRET}
    first = await api.post("cgi-bin/stable_token", body)
    clock.advance(100)
    again = await api.post("cgi-bin/stable_token", body)
    assert again["access_token"] == first["access_token"]
    assert again["expires_in"] == 7100
    # stable_token and cgi-bin/token are isolated: a plain fetch does not kill the stable token
    await api.fetch_token()
    assert (await api.get("cgi-bin/user/get", access_token=first["access_token"])).get("errcode", 0) == 0
    # in its last 5 minutes the platform renews it; the old one still lives out its lifetime
    clock.advance(7100 - 200)
    renewed = await api.post("cgi-bin/stable_token", body)
    assert renewed["access_token"] != first["access_token"] and renewed["expires_in"] == 7200
    assert (await api.get("cgi-bin/user/get", access_token=first["access_token"])).get("errcode", 0) == 0


async def test_stable_token_force_refresh_limits(api: Api, state: FakeWeChat, clock: FakeClock) -> None:
    body = {"grant_type": "client_credential", "appid": MP, "secret": "demo-mp-secret"}
    old = (await api.post("cgi-bin/stable_token", body))["access_token"]
    forced = await api.post("cgi-bin/stable_token", {**body, "force_refresh": True})
    assert forced["access_token"] != old
    assert (await api.get("cgi-bin/user/get", access_token=old))["errcode"] == 40001  # killed at once
    too_soon = await api.post("cgi-bin/stable_token", {**body, "force_refresh": True})
    assert too_soon["errcode"] == 45011
    for _ in range(19):
        clock.advance(31)
        assert "access_token" in await api.post("cgi-bin/stable_token", {**body, "force_refresh": True})
    clock.advance(31)
    assert (await api.post("cgi-bin/stable_token", {**body, "force_refresh": True}))["errcode"] == 45011
    state.reset_quotas()
    assert "access_token" in await api.post("cgi-bin/stable_token", {**body, "force_refresh": True})
    # the normal mode answers the current (forced) token
    current = await api.post("cgi-bin/stable_token", body)
    assert current["access_token"] == state.tokens.current_token(MP, "stable")


async def test_stable_token_needs_post_and_per_minute_limit(api: Api, state: FakeWeChat) -> None:
    assert (await api.get("cgi-bin/stable_token"))["errcode"] == 43002
    state.set_quota("cgi-bin/stable_token", per_minute=2)
    body = {"grant_type": "client_credential", "appid": OA, "secret": OA_SECRET}
    await api.post("cgi-bin/stable_token", body)
    await api.post("cgi-bin/stable_token", body)
    assert (await api.post("cgi-bin/stable_token", body))["errcode"] == 45011


async def test_injected_errors_times_and_token_invalidation(api: Api, state: FakeWeChat) -> None:
    tok = await api.token()
    state.inject("cgi-bin/user/get", -1, times=2)
    assert await api.get("cgi-bin/user/get", access_token=tok) == {"errcode": -1, "errmsg": "system error"}
    assert (await api.get("cgi-bin/user/get", access_token=tok))["errcode"] == -1
    assert "errcode" not in await api.get("cgi-bin/user/get", access_token=tok)
    state.inject("*", 40001)
    assert (await api.get("cgi-bin/tags/get", access_token=tok))["errcode"] == 40001
    # the injected 40001 really killed the token, as WeChat's would be
    assert (await api.get("cgi-bin/tags/get", access_token=tok))["errcode"] == 40001
    fresh = (await api.fetch_token())["access_token"]
    state.inject("cgi-bin/tags/get", 42001, invalidate_token=False)
    assert (await api.get("cgi-bin/tags/get", access_token=fresh))["errcode"] == 42001
    assert "tags" in await api.get("cgi-bin/tags/get", access_token=fresh)
    assert state.count("cgi-bin/tags/get", 40001) == 2 and state.count("cgi-bin/tags/get") == 4


async def test_injected_delay_does_not_block_other_calls(api: Api, state: FakeWeChat) -> None:
    import asyncio

    tok = await api.token()
    state.inject("cgi-bin/user/get", 0, delay=0.4)
    started = time.perf_counter()
    slow = asyncio.ensure_future(api.get("cgi-bin/user/get", access_token=tok))
    await asyncio.sleep(0.05)
    fast = await api.get("cgi-bin/tags/get", access_token=tok)
    fast_done = time.perf_counter() - started
    assert "tags" in fast and fast_done < 0.3
    assert (await slow)["total"] == 0 and time.perf_counter() - started >= 0.4


async def test_injected_http_status_and_persistent_delay(api: Api, state: FakeWeChat) -> None:
    tok = await api.token()
    state.inject_http_status("cgi-bin/user/get", 502, times=1)
    resp = await api.raw("GET", "cgi-bin/user/get", access_token=tok)
    assert resp.code == 502
    assert (await api.raw("GET", "cgi-bin/user/get", access_token=tok)).code == 200
    assert state.log.http_failures[("cgi-bin/user/get", 502)] == 1
    state.set_delay("cgi-bin/user/get", 0.2)
    started = time.perf_counter()
    await api.get("cgi-bin/user/get", access_token=tok)
    assert time.perf_counter() - started >= 0.2
