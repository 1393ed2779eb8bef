"""At-most-once sends retry what provably never reached the user (WeChat unreachable, or -1 busy), once."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from core.deps import Deps
from core.wechat.apis import MiniProgramAPI
from core.wechat.client import WeChatClient
from services.activities import notify_retry_live as notify_retry
from services.activities import reminders, signups
from services.activities import signups_store as repo
from services.activities.flusher import flush_all
from tests.mp_activities.conftest import FORM, member
from tests.mp_activities.test_signups import published

SEND = "/cgi-bin/message/subscribe/send"
LATER_MS = int((time.time() + 3600) * 1000)  # "an hour later": every retry is due


def client(deps: Deps, base: str) -> WeChatClient:
    mc = deps.settings.miniprogram
    return WeChatClient(
        app_id=mc.app_id, app_secret=mc.app_secret, api_base=base, redis=deps.redis, metrics=deps.metrics,
        backoff_base=0.01,
    )  # fmt: skip


async def confirm(deps: Deps) -> int:
    await reminders.ensure_group(deps)
    return await reminders.send_confirmations(deps, "test-consumer")


async def test_a_busy_wechat_confirmation_is_retried_and_sent_once(deps: Deps, fake_wechat: Any) -> None:
    fake = fake_wechat.state
    fake.auto_consent = True
    aid = await published(deps)
    made, _ = await signups.sign_up(deps, member("u1"), aid, "s1", FORM)
    fake.inject(SEND, -1, times=6)  # more -1 than the client's own quick retries (1 + 3)
    await confirm(deps)
    assert fake.delivered_count("subscribe") == 0
    assert await notify_retry.waiting(deps.redis) == 1  # waiting for its retry, not recorded as failed
    assert await repo.notices_of(deps.db, made["id"]) == {}
    assert await notify_retry.move_due(deps.redis, LATER_MS) == 1
    await confirm(deps)  # two more -1, then WeChat takes it
    assert fake.delivered_count("subscribe") == 1 and not fake.duplicate_deliveries("subscribe")
    assert await repo.notices_of(deps.db, made["id"]) == {"confirmed": "sent"}
    assert await notify_retry.move_due(deps.redis, LATER_MS) == 0 and await confirm(deps) == 0


async def test_wechat_unreachable_confirmation_is_sent_when_it_is_back(deps: Deps, fake_wechat: Any) -> None:
    fake_wechat.state.auto_consent = True
    aid = await published(deps)
    made, _ = await signups.sign_up(deps, member("u2"), aid, "s1", FORM)
    reachable = deps.mp
    down = client(deps, "http://127.0.0.1:1")
    deps.mp = MiniProgramAPI(down, deps.settings.miniprogram.app_secret)  # connection refused: never sent
    try:
        await confirm(deps)
    finally:
        deps.mp = reachable
        await down.close()
    assert await notify_retry.waiting(deps.redis) == 1
    await notify_retry.move_due(deps.redis, LATER_MS)
    await confirm(deps)
    assert fake_wechat.state.delivered_count("subscribe") == 1
    assert await repo.notices_of(deps.db, made["id"]) == {"confirmed": "sent"}


async def test_undelivered_after_every_retry_is_recorded_failed(deps: Deps, fake_wechat: Any) -> None:
    fake_wechat.state.auto_consent = True
    aid = await published(deps)
    made, _ = await signups.sign_up(deps, member("u3"), aid, "s1", FORM)
    fake_wechat.state.inject(SEND, -1, times=1000)
    await reminders.ensure_group(deps)
    quick = client(deps, fake_wechat.url)  # the client's own quick retries, without their pauses
    reachable, deps.mp = deps.mp, MiniProgramAPI(quick, deps.settings.miniprogram.app_secret)
    try:
        for _ in range(len(reminders.RETRY_DELAYS) + 1):
            await notify_retry.move_due(deps.redis, LATER_MS)
            await reminders.send_confirmations(deps, "test-consumer")
    finally:
        deps.mp = reachable
        await quick.close()
    assert await notify_retry.waiting(deps.redis) == 0
    assert await repo.notices_of(deps.db, made["id"]) == {"confirmed": "failed:-1"}
    assert fake_wechat.state.delivered_count("subscribe") == 0


async def test_a_busy_wechat_reminder_is_retried_later_and_sent_once(deps: Deps, fake_wechat: Any) -> None:
    fake_wechat.state.auto_consent = True
    aid = await published(deps, capacity=10, remind_minutes_before=120)
    made, _ = await signups.sign_up(deps, member("u4"), aid, "s1", FORM)
    await flush_all(deps)
    doc = await signups.activity(deps, aid)
    assert doc is not None
    due = doc["sessions"][0]["starts_at"] - timedelta(minutes=90)
    fake_wechat.state.inject(SEND, -1, times=4)
    await reminders.ensure_group(deps)
    await reminders.send_confirmations(deps, "test-consumer")  # the confirmation takes the four -1s
    fake_wechat.state.inject(SEND, -1, times=4)
    assert await reminders.send_due_reminders(deps, now=due) == 0
    stored = await repo.get(deps.db, made["id"])
    assert stored is not None and stored["reminder"] == "pending" and stored["reminder_attempts"] == 1
    assert await reminders.send_due_reminders(deps, now=due) == 0  # not due again yet (back-off)
    assert await reminders.send_due_reminders(deps, now=due + timedelta(minutes=1)) == 1
    stored = await repo.get(deps.db, made["id"])
    assert stored is not None and stored["reminder"] == "sent"
    assert fake_wechat.state.delivered_count("subscribe") == 1  # the reminder; the confirmation waits for its retry
