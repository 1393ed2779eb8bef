"""kill -9 the service mid-push, start it again: every recipient gets exactly one message and exactly
one delivery record (the issue's crash test, with the real service as a subprocess)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from core.deps import Deps
from services.pushes.live import SETTINGS_KEY
from tests.conftest import AES_KEY, MP_APP_ID, MP_SECRET, OA_APP_ID, OA_SECRET, TOKEN
from tests.pushes.conftest import TEMPLATE, ids, seed_followers, send_now, wait_for, wait_run

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 3000


def _config(deps: Deps, redis_url: str, mongo_url: str, fake_url: str, tmp: Path) -> Path:
    from core.embedded import _free_port

    raw = {
        "server": {"port": _free_port(), "cookie_secret": "kill-test-cookie-secret"},
        "data_dir": str(tmp / "var"),
        "wechat": {
            "app_id": OA_APP_ID,
            "app_secret": OA_SECRET,
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "api_base": fake_url,
            "timeout_seconds": 3,
        },  # fmt: skip
        "miniprogram": {"app_id": MP_APP_ID, "app_secret": MP_SECRET, "api_base": fake_url},
        "redis": {"url": redis_url},
        "mongo": {"url": mongo_url, "db": deps.settings.mongo.db},
        "log": {"level": "WARNING"},
        "demo": {"fake_wechat": False},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


async def _start(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDGH_")}
    out = log.open("ab")
    return await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "--config", str(config), cwd=str(ROOT), env=env, stdout=out,
        stderr=out,
    )  # fmt: skip


async def test_kill_minus_nine_mid_push(
    deps: Deps, fake_wechat: Any, tmp_path: Path, redis_url: str, mongo_url: str
) -> None:
    state = fake_wechat.state
    openids = ids("oKill", RECIPIENTS)
    await seed_followers(deps, fake_wechat, openids)
    # Slow enough to kill it mid-push (WeChat-side latency and our shared rate), quick chunk handover.
    state.set_delay("cgi-bin/message/template/send", 0.05)
    await deps.redis.hset(SETTINGS_KEY, mapping={
        "rate_template": 600, "chunk_size": 150, "wm_step": 20, "lease_seconds": 2, "leader_seconds": 2,
        "idle_poll": 0.1, "orphan_scan_seconds": 0.3, "supervise_seconds": 0.3, "flush_seconds": 0.2,
        "active_poll_seconds": 0.2,
    })  # fmt: skip
    push_id = await send_now(deps, TEMPLATE)
    config = _config(deps, redis_url, mongo_url, fake_wechat.url, tmp_path)
    log = tmp_path / "service.log"

    service = await _start(config, log)
    try:
        # Workers move through chunks in step (one shared rate): kill mid-chunk, not between chunks.
        await wait_for(_delivered(state, 1000), 40, "the first deliveries")
        service.send_signal(signal.SIGKILL)
        await service.wait()
        at_kill = state.delivered_count("template")
        assert at_kill < RECIPIENTS, "the push finished before the kill: slow it down"
        service = await _start(config, log)
        await wait_run(deps, push_id, "done", within=60)
    finally:
        if service.returncode is None:
            service.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(service.wait(), 20)
            except TimeoutError:
                service.kill()
    assert state.delivered_count("template") == RECIPIENTS, log.read_text()[-3000:]
    assert state.duplicate_deliveries("template") == []
    # The kill left sends in doubt (in flight, or answered but not yet recorded); they were sent again
    # with the same client_msg_id and WeChat (the fake, like WeChat) delivered them only once.
    assert state.count("cgi-bin/message/template/send") > RECIPIENTS
    recs = [d async for d in deps.db.push_deliveries.find({})]
    assert len(recs) == RECIPIENTS == len({r["_id"] for r in recs})
    assert {r["status"] for r in recs} == {"sent"}


def _delivered(state: Any, n: int) -> Any:
    async def check() -> bool:
        return bool(state.delivered_count("template") >= n)

    return check
