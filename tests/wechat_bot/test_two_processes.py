"""Exactly once across service processes: two real `app.py` processes sharing Redis and MongoDB."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.testing import bind_unused_port

from core.deps import Deps
from tests.conftest import AES_KEY, OA_APP_ID, TOKEN
from tools.fake_wechat import WeChatSimulator

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    sock, port = bind_unused_port()
    sock.close()
    return int(port)


async def wait_healthy(url: str, proc: asyncio.subprocess.Process, within: float = 30) -> None:
    client = AsyncHTTPClient()
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"service exited with {proc.returncode}")
        try:
            resp = await client.fetch(f"{url}/healthz", raise_error=False, request_timeout=2)
            if resp.code == 200:
                return
        except (OSError, HTTPClientError):  # refused, or still importing behind an open port (core/prebind.py)
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} not healthy after {within}s")


@pytest.fixture
async def two_services(
    deps: Deps, redis_url: str, mongo_url: str, fake_wechat: Any, tmp_path: Path
) -> AsyncIterator[list[str]]:
    """Two service processes on their own ports, on this test's Redis and database."""
    procs: list[asyncio.subprocess.Process] = []
    urls: list[str] = []
    s = deps.settings
    for n in range(2):
        port = free_port()
        env = {
            **os.environ, "SDGH_SERVER_PORT": str(port), "SDGH_REDIS_URL": redis_url, "SDGH_MONGO_URL": mongo_url,
            "SDGH_MONGO_DB": s.mongo.db, "SDGH_DEMO_FAKE_WECHAT": "false", "SDGH_WECHAT_TOKEN": TOKEN,
            "SDGH_WECHAT_API_BASE": fake_wechat.url, "SDGH_MINIPROGRAM_API_BASE": fake_wechat.url,
            "SDGH_DATA_DIR": str(tmp_path / f"p{n}"), "SDGH_LOG_LEVEL": "WARNING",
        }  # fmt: skip
        cmd = [sys.executable, str(ROOT / "app.py"), "--config", str(ROOT / "config.yaml")]
        procs.append(await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        await asyncio.gather(*(wait_healthy(u, p) for u, p in zip(urls, procs, strict=True)))
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                await asyncio.wait_for(p.wait(), 10)
            except TimeoutError:
                p.kill()
                await p.wait()


async def test_one_message_delivered_to_two_processes_is_processed_once(two_services: list[str], deps: Deps) -> None:
    a, b = (WeChatSimulator(f"{u}/wechat", TOKEN, OA_APP_ID, AES_KEY, "safe", "xml", "gh_sdgh_demo")
            for u in two_services)  # fmt: skip
    try:
        for i in range(5):
            follow = a.event(f"o_two_proc_{i}", "subscribe", EventKey="qrscene_org:370600")
            results = await asyncio.gather(a.send(follow), b.send(follow), a.send(follow), b.send(follow))
            replies = [r.reply for r in results]
            assert replies[0] is not None and "烟台市总工会" in replies[0]["Content"]
            assert all(r == replies[0] for r in replies), "every delivery must get the same answer"
        stats = await deps.db.follower_stats.find({"org": "370600"}).to_list()
        assert sum(s.get("subscribes", 0) for s in stats) == 5  # one per follower, not one per delivery
        assert await deps.db.followers.count_documents({"org": "370600"}) == 5
    finally:
        a.close()
        b.close()
