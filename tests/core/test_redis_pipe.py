"""The message path's Redis connection: pipelining, errors, reconnects, and a Redis that stalls."""

from __future__ import annotations

import asyncio
import time

import pytest

import scheduler
from core.db import connect_pipe
from core.deps import Deps
from core.redis_pipe import RedisReplyError
from tests.conftest import AES_KEY, OA_APP_ID, REDIS_MODE, TOKEN
from tests.wechat_bot.conftest import ACCOUNT
from tools.fake_wechat import WeChatSimulator


async def _every_node(deps: Deps, *args: str) -> None:
    """An admin command for the server (each master of a Redis Cluster)."""
    if REDIS_MODE == "cluster":
        for node in deps.redis.get_primaries():  # type: ignore[attr-defined]
            await deps.redis.execute_command(*args, target_nodes=node)  # type: ignore[no-untyped-call]
    else:
        await deps.redis.execute_command(*args)  # type: ignore[no-untyped-call]


async def test_pipelines_and_reports_errors_per_command(redis_url: str) -> None:
    pipe = connect_pipe(redis_url)
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
    pipe = connect_pipe(redis_url)
    try:
        assert await pipe.execute("CLIENT", "SETNAME", "pipe-under-test") == "OK"
        await _every_node(deps, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        await asyncio.sleep(0.05)
        assert await pipe.execute("PING") == "PONG"
    finally:
        await pipe.close()


async def test_a_stalled_redis_fails_fast_and_workers_still_get_answers(app_server: str, deps: Deps) -> None:
    # The whole app, scheduler leader included: APScheduler's blocking job store runs on its own
    # thread, so a stalled Redis cannot freeze the event loop that answers workers.
    runner = deps.get(scheduler.RUNNER)
    assert runner is not None
    for _ in range(100):
        if runner.leading:
            break
        await asyncio.sleep(0.05)
    assert runner.leading
    sim = WeChatSimulator(f"{app_server}/wechat", TOKEN, OA_APP_ID, AES_KEY, "safe", "xml", ACCOUNT)
    await sim.send_text("o_stall_warmup", "投票")  # the bot's connection is open
    await _every_node(deps, "CLIENT", "PAUSE", "4500")  # 4.5 s stall
    started = time.perf_counter()
    resync = asyncio.ensure_future(runner.resync("stall-test"))  # reads APScheduler's job store meanwhile
    result = await sim.send_text("o_stall", "法律")
    elapsed = time.perf_counter() - started
    await resync
    assert result.reply is not None and "12351" in result.reply["Content"]
    assert result.attempts == 1 and elapsed < 4.0  # answered without Redis, inside WeChat's 5 s
    sim.close()
