"""The service starts its embedded servers, keeps data across restarts and leaves no process behind."""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from core.db import connect_mongo
from tests.support.service import ROOT, ServiceProcess, wait_gone


def _get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def _boot_count(mongo_url: str) -> int:
    client = connect_mongo(mongo_url)
    try:
        return await client.sdgh.boots.count_documents({})
    finally:
        await client.close()


def _embedded_urls(svc: ServiceProcess) -> tuple[str, str]:
    sock = svc.workdir / "data" / "redis" / "redis.sock"
    mongo = next(p for p in svc.descendants() if "secantusd" in " ".join(p.cmdline()))
    port = mongo.cmdline()[mongo.cmdline().index("--port") + 1]
    return f"unix://{sock}", f"mongodb://127.0.0.1:{port}/?directConnection=true"


@pytest.mark.timeout(180)
async def test_embedded_servers_keep_data_and_stop_cleanly(tmp_path: Path) -> None:
    svc = ServiceProcess(tmp_path, **{"wechat.api_base": "http://127.0.0.1:9"})
    await asyncio.to_thread(svc.start)
    try:
        status, body = _get_json(svc.url + "/healthz")
        assert status == 200 and body["checks"] == {"redis": "ok", "mongo": "ok"}
        children = svc.descendants()
        names = " ".join(" ".join(p.cmdline()) for p in children)
        assert "redis-server" in names and "secantusd" in names
        redis_url, mongo_url = _embedded_urls(svc)
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        await r.set("lifecycle:marker", "kept")
        await r.aclose()
        assert await _boot_count(mongo_url) == 1
    finally:
        code = await asyncio.to_thread(svc.terminate)
    assert code == 0, svc.log()
    assert wait_gone(children) == [], "embedded servers survived SIGTERM"

    await asyncio.to_thread(svc.start)  # same data_dir
    try:
        redis_url, mongo_url = _embedded_urls(svc)
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        assert await r.get("lifecycle:marker") == "kept"
        await r.aclose()
        assert await _boot_count(mongo_url) == 2
        children = svc.descendants()
    finally:
        svc.kill()  # SIGKILL: the children must still go (PR_SET_PDEATHSIG)
    assert wait_gone(children) == [], "embedded servers outlived a killed service"


@pytest.mark.timeout(120)
async def test_unreachable_redis_stops_start_up_with_one_clear_line(tmp_path: Path, mongo_url: str) -> None:
    svc = ServiceProcess(tmp_path, **{"redis.url": "redis://:secret@127.0.0.1:1/0", "mongo.url": mongo_url})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "--config", str(svc.config_path), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    text = out.decode()
    assert "cannot start: redis at redis://:***@127.0.0.1:1/0 is unreachable" in text
    assert "secret" not in text and "Traceback" not in text
