"""The message path's Redis connection: pipelining, errors, reconnects, and a Redis that stalls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from app import make_app
from core.deps import Deps
from tests.conftest import AES_KEY, OA_APP_ID, TOKEN
from tests.wechat_bot.conftest import ACCOUNT
from tools.fake_wechat import WeChatSimulator
from wechat_bot import setup as wechat_bot_setup
from wechat_bot.redis_pipe import RedisPipe, RedisReplyError


async def test_pipelines_and_reports_errors_per_command(redis_url: str) -> None:
    pipe = RedisPipe(redis_url)
    try:
        replies = await pipe.execute_many([("SET", "t:pipe", "1"), ("INCR", "t:pipe"), ("HGET", "t:pipe", "x")])
        assert replies[:2] == ["OK", 2] and isinstance(replies[2], RedisReplyError)  # WRONGTYPE
        results = await asyncio.gather(*(pipe.execute("INCR", "t:pipe") for _ in range(500)))
        assert sorted(results) == list(range(3, 503))  # 500 concurrent commands, in order, none lost
        with pytest.raises(RedisReplyError):
            await pipe.execute("NOSUCHCOMMAND")
        assert await pipe.execute("GET", "t:pipe") == "502"
    finally:
        await pipe.close()


async def test_reconnects_after_the_connection_is_killed(redis_url: str, deps: Deps) -> None:
    pipe = RedisPipe(redis_url)
    try:
        assert await pipe.execute("CLIENT", "SETNAME", "pipe-under-test") == "OK"
        await deps.redis.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")  # type: ignore[no-untyped-call]
        await asyncio.sleep(0.05)
        assert await pipe.execute("PING") == "PONG"
    finally:
        await pipe.close()


@pytest.fixture
async def bot_only_url(deps: Deps) -> AsyncIterator[str]:
    """The app with only the bot's start hook. The whole app also starts the push scheduler, whose
    APScheduler job store uses a blocking Redis client on the event loop: while Redis stalls, that
    freezes every request of the process (reported to its owner). This test is about the bot."""
    await wechat_bot_setup.start(deps)
    sock, port = bind_unused_port()
    server = HTTPServer(make_app(deps))
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}"
    server.stop()
    await server.close_all_connections()


async def test_a_stalled_redis_fails_fast_and_workers_still_get_answers(bot_only_url: str, deps: Deps) -> None:
    sim = WeChatSimulator(f"{bot_only_url}/wechat", TOKEN, OA_APP_ID, AES_KEY, "safe", "xml", ACCOUNT)
    await sim.send_text("o_stall_warmup", "投票")  # the bot's connection is open
    await deps.redis.execute_command("CLIENT", "PAUSE", "4500")  # type: ignore[no-untyped-call]  # 4.5 s stall
    started = time.perf_counter()
    result = await sim.send_text("o_stall", "法律")
    elapsed = time.perf_counter() - started
    assert result.reply is not None and "12351" in result.reply["Content"]
    assert result.attempts == 1 and elapsed < 4.0  # answered without Redis, inside WeChat's 5 s
    sim.close()
