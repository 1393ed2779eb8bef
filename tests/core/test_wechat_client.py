"""The WeChat client against the fake platform over real HTTP: shared token, refresh, retries, errors."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import pytest

from core.wechat import WeChatError, WeChatTransportError
from core.wechat.client import WeChatClient
from tests.conftest import OA_APP_ID, OA_SECRET
from tests.support.service import ROOT


async def _race(redis_url: str, base: str, processes: int = 2, calls: int = 25) -> list[dict[str, Any]]:
    start_at = time.time() + 1.5  # leave time for the interpreters to start
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.core.token_race",
            "--redis",
            redis_url,
            "--base",
            base,
            "--app-id",
            OA_APP_ID,
            "--secret",
            OA_SECRET,
            "--calls",
            str(calls),
            "--start-at",
            str(start_at),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        for _ in range(processes)
    ]
    outs = [await p.communicate() for p in procs]
    return [json.loads(out) for out, _ in outs]


async def test_fifty_calls_from_two_processes_fetch_one_token(deps: Any, fake_wechat: Any, redis_url: str) -> None:
    results = await _race(redis_url, fake_wechat.url)
    assert [r["ok"] for r in results] == [25, 25], results
    assert fake_wechat.state.token_fetches(OA_APP_ID) == 1


async def test_expired_token_is_refreshed_once_across_processes(deps: Any, fake_wechat: Any, redis_url: str) -> None:
    await deps.oa.client.get("cgi-bin/tags/get")  # a token now sits in Redis
    assert fake_wechat.state.token_fetches(OA_APP_ID) == 1
    fake_wechat.state.expire_tokens()  # WeChat now answers 42001 for it
    results = await _race(redis_url, fake_wechat.url)
    assert [r["ok"] for r in results] == [25, 25], results
    assert fake_wechat.state.token_fetches(OA_APP_ID) == 2
    assert fake_wechat.state.count("cgi-bin/tags/get", errcode=42001) >= 1


async def test_injected_40001_refreshes_once_and_succeeds(deps: Any, fake_wechat: Any) -> None:
    await deps.oa.client.get("cgi-bin/tags/get")
    fake_wechat.state.inject("cgi-bin/tags/get", 40001, times=1)
    data = await deps.oa.client.get("cgi-bin/tags/get")
    assert "tags" in data
    assert fake_wechat.state.token_fetches(OA_APP_ID) == 2
    assert fake_wechat.state.count("cgi-bin/tags/get", errcode=40001) == 1


async def test_persistent_40001_is_surfaced_after_one_retry(deps: Any, fake_wechat: Any) -> None:
    fake_wechat.state.inject("cgi-bin/tags/get", 40001, times=5, invalidate_token=False)
    with pytest.raises(WeChatError) as err:
        await deps.oa.client.get("cgi-bin/tags/get")
    assert err.value.errcode == 40001
    assert fake_wechat.state.count("cgi-bin/tags/get", errcode=40001) == 2  # first try + one retry


async def test_daily_quota_is_surfaced_not_retried(deps: Any, fake_wechat: Any) -> None:
    fake_wechat.state.add_followers(["o_quota_1"])
    fake_wechat.state.set_quota("cgi-bin/message/template/send", daily=1)
    data = {"thing1": {"value": "通知"}}
    await deps.oa.send_template("o_quota_1", "TPL_ACTIVITY_NOTICE", data, client_msg_id="a")
    started = time.monotonic()
    with pytest.raises(WeChatError) as err:
        await deps.oa.send_template("o_quota_1", "TPL_ACTIVITY_NOTICE", data, client_msg_id="b")
    assert err.value.errcode == 45009 and err.value.is_quota
    assert "今日上限" in err.value.text
    assert time.monotonic() - started < 1.0
    assert fake_wechat.state.count("cgi-bin/message/template/send", errcode=45009) == 1


async def test_system_busy_is_retried_with_a_bound(deps: Any, fake_wechat: Any) -> None:
    fake_wechat.state.inject("cgi-bin/tags/get", -1, times=2)
    assert "tags" in await deps.oa.client.get("cgi-bin/tags/get")  # third attempt succeeds
    fake_wechat.state.inject("cgi-bin/tags/get", -1, times=10)
    with pytest.raises(WeChatError) as err:
        await deps.oa.client.get("cgi-bin/tags/get")
    assert err.value.errcode == -1
    assert fake_wechat.state.count("cgi-bin/tags/get", errcode=-1) == 2 + 4  # 1 try + 3 retries


async def test_timeouts_are_retried_only_when_idempotent(deps: Any, fake_wechat: Any, redis_url: str) -> None:
    client = WeChatClient(
        app_id=OA_APP_ID, app_secret=OA_SECRET, api_base=fake_wechat.url, redis=deps.redis,
        metrics=deps.metrics, timeout=0.3, backoff_base=0.01,
    )  # fmt: skip
    try:
        await client.get("cgi-bin/tags/get")
        fake_wechat.state.inject("cgi-bin/tags/get", 0, times=1, delay=1.0)
        assert "tags" in await client.get("cgi-bin/tags/get")  # idempotent GET: retried
        fake_wechat.state.add_followers(["o_slow"])
        fake_wechat.state.inject("cgi-bin/message/custom/send", 0, times=1, delay=1.0)
        with pytest.raises(WeChatTransportError):  # a send may have gone out: not retried
            await client.post(
                "cgi-bin/message/custom/send", {"touser": "o_slow", "msgtype": "text", "text": {"content": "你好"}}
            )
    finally:
        await client.close()


async def test_unreachable_wechat_is_a_transport_error(deps: Any) -> None:
    client = WeChatClient(
        app_id=OA_APP_ID, app_secret=OA_SECRET, api_base="http://127.0.0.1:9", redis=deps.redis,
        metrics=deps.metrics, timeout=1, backoff_base=0.01,
    )  # fmt: skip
    try:
        with pytest.raises(WeChatTransportError) as err:
            await client.get("cgi-bin/tags/get")
        assert "无法连接微信" in err.value.text
    finally:
        await client.close()


async def test_calls_are_counted_by_errcode_in_metrics(deps: Any, fake_wechat: Any) -> None:
    fake_wechat.state.inject("cgi-bin/tags/get", 45011, times=1)
    with pytest.raises(WeChatError):
        await deps.oa.client.get("cgi-bin/tags/get")
    text = deps.metrics.render().decode()
    assert 'sdgh_wechat_api_calls_total{api="cgi-bin/tags/get",errcode="45011"} 1.0' in text
    assert 'sdgh_wechat_token_fetches_total{app_id="wxdemo0000000oa"} 1.0' in text
