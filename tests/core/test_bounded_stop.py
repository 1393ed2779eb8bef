"""SIGTERM ends the service within a bounded time even when its MongoDB has gone away."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from core.embedded import start_mongo, start_redis
from core.lifecycle import SHUTDOWN_LIMIT
from tests.support.service import ServiceProcess


@pytest.mark.timeout(150)
async def test_sigterm_with_mongo_down_ends_the_service(tmp_path: Path) -> None:
    redis = await start_redis(tmp_path / "r")
    mongo = await start_mongo(tmp_path / "m")
    svc = ServiceProcess(
        tmp_path, **{"wechat.api_base": "http://127.0.0.1:9", "redis.url": redis.url, "mongo.url": mongo.url}
    )
    try:
        await asyncio.to_thread(svc.start)
        mongo.process.send_signal(signal.SIGKILL)  # an external database: nobody restarts it
        mongo.process.wait()
        await asyncio.sleep(2)  # the loops notice and retry
        assert svc.proc is not None
        started = time.monotonic()
        svc.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(svc.proc.wait, SHUTDOWN_LIMIT + 10)
        took = time.monotonic() - started
        print(f"stopped {took:.1f}s after SIGTERM with MongoDB down (exit {code})")  # noqa: T201
        assert took < SHUTDOWN_LIMIT + 5, svc.log()
        assert code in (0, 1)  # 1: the backstop ended it (core/lifecycle.exit_after)
    finally:
        svc.kill()
        redis.stop()
        mongo.stop()
