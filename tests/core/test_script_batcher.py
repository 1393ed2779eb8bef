"""Lua scripts on the hot paths: concurrent calls share round trips, stay atomic, survive a script flush."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from core.deps import Deps
from core.redis_pipe import PipeConnectionError, RedisPipe
from storage.batching import ScriptBatcher

TAKE_ONE = """
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left <= 0 then return {'none', left} end
redis.call('DECR', KEYS[1])
return {'took', left - 1}
"""


async def test_concurrent_calls_are_each_atomic(deps: Deps) -> None:
    take = ScriptBatcher(deps.redis_pipe, TAKE_ONE)
    await deps.redis.set("t:stock", 50)
    answers = await asyncio.gather(*(take(keys=["t:stock"], args=[]) for _ in range(300)))
    took = sorted(left for outcome, left in answers if outcome == "took")
    assert took == list(range(50))  # 50 winners, each saw a different remaining count: never oversold
    assert sum(1 for outcome, _ in answers if outcome == "none") == 250
    assert await deps.redis.get("t:stock") == "0"


async def test_a_flushed_script_is_loaded_again(deps: Deps) -> None:
    take = ScriptBatcher(deps.redis_pipe, TAKE_ONE)
    await deps.redis.set("t:stock", 3)
    assert await take(keys=["t:stock"], args=[]) == ["took", 2]
    await deps.redis.script_flush()  # as after a Redis restart without the script cache
    results = await asyncio.gather(*(take(keys=["t:stock"], args=[]) for _ in range(4)))
    assert sorted(map(tuple, results)) == [("none", 0), ("none", 0), ("took", 0), ("took", 1)]


async def test_a_script_error_is_a_redis_response_error(deps: Deps) -> None:
    broken = ScriptBatcher(deps.redis_pipe, "return redis.call('INCR', KEYS[1])")
    await deps.redis.hset("t:hash", "a", "1")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await broken(keys=["t:hash"], args=[])


async def test_an_unreachable_redis_is_a_connection_error_for_handlers() -> None:
    # Handlers answer 503 "服务繁忙" for redis-py's ConnectionError; the pipe's must be one too.
    pipe = RedisPipe("redis://127.0.0.1:9", connect_timeout=1)  # nothing listens there
    take = ScriptBatcher(pipe, TAKE_ONE)
    with pytest.raises(PipeConnectionError) as caught:
        await take(keys=["t:stock"], args=[])
    assert isinstance(caught.value, RedisConnectionError) and isinstance(caught.value, ConnectionError)
    await pipe.close()
