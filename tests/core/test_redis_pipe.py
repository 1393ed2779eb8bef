"""The message path's Redis connection: pipelining, errors, reconnects, and a Redis that stalls."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
import redis

import scheduler
from core.db import connect_pipe
from core.deps import Deps
from core.outage import is_unavailable
from core.redis_pipe import RedisReplyError
from tests.conftest import AES_KEY, OA_APP_ID, REDIS_MODE, TOKEN
from tests.wechat_bot.conftest import ACCOUNT
from tools.fake_wechat import WeChatSimulator
from tools.redis_lab import redis_server_path


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


async def test_a_redis_still_loading_its_data_is_an_outage_not_a_bug(tmp_path: Path) -> None:
    """A restarted Redis answers LOADING until its data is read back: handlers answer 503 "try again"
    and log one quiet line, as for any outage, not a traceback (core/outage.py)."""
    sock = tmp_path / "r.sock"
    base = [redis_server_path(), "--port", "0", "--unixsocket", str(sock), "--dir", str(tmp_path), "--save", ""]

    def run(*extra: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([*base, *extra], stdout=subprocess.DEVNULL)
        for _ in range(100):
            if sock.exists():
                return proc
            time.sleep(0.05)
        raise AssertionError("redis-server did not open its socket")

    first = run()
    with redis.Redis(unix_socket_path=str(sock)) as client:
        client.eval("for i = 1, 3000 do redis.call('SET', 'k' .. i, i) end", 0)
        client.save()
    first.terminate()
    first.wait()
    # 3,000 keys read back at 1 ms each, answering clients between them: about 3 s of LOADING.
    loading = run("--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024")
    pipe = connect_pipe(f"unix://{sock}")
    try:
        with pytest.raises(RedisReplyError) as err:
            await pipe.execute("GET", "k1")
        assert str(err.value).startswith("LOADING") and is_unavailable(err.value)
        deadline = time.monotonic() + 20
        while True:  # the same connection works once the data is back
            try:
                assert await pipe.execute("GET", "k3000") == "3000"
                break
            except RedisReplyError as exc:
                assert is_unavailable(exc) and time.monotonic() < deadline, exc
                await asyncio.sleep(0.2)
    finally:
        await pipe.close()
        loading.kill()
        loading.wait()


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
