"""1,000 concurrent ballots from 500 users: stored ballots and displayed counts agree exactly,
also when the service is killed (SIGKILL) in the middle of the run and started again."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from core.deps import Deps
from services.polls import ballots_store as ballots
from services.polls import definitions as polls
from tests.conftest import AES_KEY, MP_APP_ID, MP_SECRET, OA_APP_ID, OA_SECRET, TOKEN
from tests.mp.load import login_many, post_all
from tests.mp.polls_helpers import make_poll, wait_flushed

ROOT = Path(__file__).resolve().parents[2]
USERS, BALLOTS_EACH = 500, 2


def _jobs(poll_id: str, tokens: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """Each user casts 2 ballots for the same option (user i -> option i % 4), so a retried ballot whose
    first attempt was counted leaves the expected totals unchanged: every option ends at 250."""
    path = f"/api/mp/polls/{poll_id}/ballots"
    return [(path, t, {"options": [f"o{i % 4 + 1}"]}) for i, t in enumerate(tokens) for _ in range(BALLOTS_EACH)]


async def _poll(deps: Deps) -> dict[str, Any]:
    return await make_poll(
        deps, limit={"per": "poll", "count": BALLOTS_EACH}, anti_brush={"user_per_minute": 0, "ip_per_minute": 0}
    )


async def _assert_exact(deps: Deps, poll: dict[str, Any]) -> None:
    await wait_flushed(deps)
    stored = await ballots.option_counts(deps.db, poll["_id"])
    live = await polls.live(deps).counts(poll["_id"])
    assert live is not None
    expected = {f"o{k}": USERS // 4 * BALLOTS_EACH for k in range(1, 5)}
    assert stored == expected
    assert {k: v for k, v in live.items() if not k.startswith("_")} == expected
    assert live["_ballots"] == await ballots.count(deps.db, poll["_id"]) == USERS * BALLOTS_EACH
    assert live["_voters"] == USERS
    per_user = await ballots.per_user(deps.db, poll["_id"])
    assert set(per_user.values()) == {(BALLOTS_EACH, BALLOTS_EACH)}  # seq 1 and 2 for everyone, no gaps


async def test_1000_concurrent_ballots_from_500_users(app_server: str, deps: Deps, fake_wechat: Any) -> None:
    poll = await _poll(deps)
    tokens = await login_many(app_server, [fake_wechat.state.mint_js_code(f"o_load{i}") for i in range(USERS)])
    outcomes = await post_all(app_server, _jobs(poll["_id"], tokens))
    assert [o.status for o in outcomes].count(201) == USERS * BALLOTS_EACH, {o.status for o in outcomes}
    await _assert_exact(deps, poll)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def _start_service(config: Path, base: str, log: Path) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "app.py"), "--config", str(config),
        cwd=str(ROOT), stdout=log.open("ab"), stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.returncode is not None:
                raise AssertionError(f"service exited at start-up:\n{_tail(log)}")
            try:
                async with http.get(base + "/healthz") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError(f"service did not become healthy:\n{_tail(log)}")


async def _until_counted(deps: Deps, poll_id: str, n: int) -> None:
    for _ in range(6000):
        if ((await polls.live(deps).counts(poll_id)) or {}).get("_ballots", 0) >= n:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"fewer than {n} ballots counted in 30 s")


async def test_kill_mid_run_loses_nothing_and_counts_nothing_twice(
    deps: Deps, fake_wechat: Any, redis_url: str, mongo_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "server": {"port": port, "cookie_secret": "kill-test"},
        "data_dir": str(tmp_path / "var"),
        "wechat": {"app_id": OA_APP_ID, "app_secret": OA_SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY,
                   "api_base": fake_wechat.url},
        "miniprogram": {"app_id": MP_APP_ID, "app_secret": MP_SECRET, "api_base": fake_wechat.url},
        "redis": {"url": redis_url},
        "mongo": {"url": mongo_url, "db": deps.settings.mongo.db},
        "log": {"level": "WARNING"},
    }))  # fmt: skip
    log = tmp_path / "service.log"
    poll = await _poll(deps)
    first = await _start_service(config, base, log)
    try:
        tokens = await login_many(base, [fake_wechat.state.mint_js_code(f"o_kill{i}") for i in range(USERS)])
        jobs = _jobs(poll["_id"], tokens)
        run = asyncio.ensure_future(post_all(base, jobs))
        await _until_counted(deps, poll["_id"], 300)
        os.kill(first.pid, signal.SIGKILL)
        outcomes = await run
        await first.wait()
    finally:
        if first.returncode is None:
            first.kill()
    answered = [o.status for o in outcomes if o.status is not None]
    assert set(answered) <= {201}, set(answered)
    unknown = [job for job, o in zip(jobs, outcomes, strict=True) if o.status != 201]
    assert unknown, "the kill came too late to cut any request"
    pending_at_restart = await ballots.pending_count(deps.redis)

    second = await _start_service(config, base, log)  # drains the stream at start-up
    try:
        retried = await post_all(base, unknown)
        # A retried ballot whose first attempt had been counted is refused by the limit: 409, not counted.
        assert {o.status for o in retried} <= {201, 409}, [o.body for o in retried if o.status not in (201, 409)]
        await _assert_exact(deps, poll)
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {tokens[0]}"}  # sessions survived the kill (Redis AOF)
            async with http.get(f"{base}/api/mp/polls/{poll['_id']}", headers=headers) as resp:
                shown = await resp.json()
        assert [o["count"] for o in shown["options"]] == [250, 250, 250, 250]
        assert shown["total_ballots"] == 1000 and shown["voters"] == 500
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 20)
    print(f"killed with {len(unknown)} requests unanswered, {pending_at_restart} ballots pending in Redis")
