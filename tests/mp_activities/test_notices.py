"""Confirmations and reminders as subscribe messages through the fake WeChat platform."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from services.activities import notify_live, reminders, signups
from services.activities import signups_store as repo
from services.activities.flusher import flush_all
from services.activities.live import notify_key, tag_of
from tests.mp_activities.conftest import FORM, member
from tests.mp_activities.test_signups import published

TPL = "TPL_ACTIVITY_NOTICE"


async def confirm_all(deps: Deps) -> int:
    await reminders.ensure_group(deps)
    return await reminders.send_confirmations(deps, "test-consumer")


async def test_confirmation_sent_refusal_recorded_waitlist_silent_promotion_told(deps: Deps, fake_wechat: Any) -> None:
    fake = fake_wechat.state
    aid = await published(deps, capacity=2)
    fake.grant_consent("u1", TPL)
    a, _ = await signups.sign_up(deps, member("u1"), aid, "s1", FORM)
    b, _ = await signups.sign_up(deps, member("u2"), aid, "s1", FORM)  # no consent: WeChat says 43101
    c, _ = await signups.sign_up(deps, member("u3"), aid, "s1", FORM)  # waitlisted: nothing sent
    assert c["status"] == "waitlisted"
    assert await confirm_all(deps) == 2
    assert fake.delivered_count("subscribe") == 1
    payload = fake.last_payload("subscribe", "u1")
    assert "报名成功" in str(payload) and "职工健步走" in str(payload)
    fake.grant_consent("u3", TPL)
    await signups.cancel(deps, member("u1"), aid, a["id"])  # u3 promoted
    assert await confirm_all(deps) == 1
    assert "候补成功" in str(fake.last_payload("subscribe", "u3"))
    await flush_all(deps)
    assert await repo.notices_of(deps.db, a["id"]) == {"confirmed": "sent"}
    assert await repo.notices_of(deps.db, b["id"]) == {"confirmed": "refused"}
    assert (await repo.get(deps.db, b["id"]) or {})["status"] == "confirmed"  # a refusal never fails a sign-up
    assert await repo.notices_of(deps.db, c["id"]) == {"promoted": "sent"}
    assert await confirm_all(deps) == 0  # nothing is sent twice


async def test_a_confirmation_read_by_a_dead_instance_is_sent_by_another(deps: Deps, fake_wechat: Any) -> None:
    aid = await published(deps)
    fake_wechat.state.auto_consent = True
    await reminders.ensure_group(deps)
    await signups.sign_up(deps, member("u1"), aid, "s1", FORM)
    stream = notify_key(tag_of(aid))
    read = await deps.redis.xreadgroup(notify_live.GROUP, "dead", {stream: ">"}, count=10)
    assert read  # taken by an instance that then died before acknowledging (so before sending)
    assert await reminders.send_confirmations(deps, "alive") == 0  # not idle long enough yet
    await deps.redis.xclaim(stream, notify_live.GROUP, "dead", 0, [read[0][1][0][0]], idle=120_000)
    assert await reminders.send_confirmations(deps, "alive") == 1
    assert fake_wechat.state.delivered_count("subscribe") == 1


async def test_reminders_go_once_even_with_two_instances(deps: Deps, fake_wechat: Any) -> None:
    fake_wechat.state.auto_consent = True
    aid = await published(deps, capacity=10, remind_minutes_before=120)
    made = [(await signups.sign_up(deps, member(f"u{i}"), aid, "s1", FORM))[0] for i in range(6)]
    await signups.cancel(deps, member("u0"), aid, made[0]["id"])
    await flush_all(deps)
    doc = await signups.activity(deps, aid)
    assert doc is not None
    start = doc["sessions"][0]["starts_at"]
    assert await reminders.send_due_reminders(deps, now=start - timedelta(hours=3)) == 0  # not due yet
    due = start - timedelta(minutes=90)
    first, second = await asyncio.gather(
        reminders.send_due_reminders(deps, due), reminders.send_due_reminders(deps, due)
    )
    assert first + second == 5
    assert fake_wechat.state.delivered_count("subscribe") == 5 and not fake_wechat.state.duplicate_deliveries(
        "subscribe"
    )
    states = {d["_id"]: d["reminder"] async for d in deps.db.signups.find({"activity_id": aid})}
    assert states[made[0]["id"]] == "pending"  # cancelled: never reminded
    assert sorted(states.values()) == ["pending"] + ["sent"] * 5
    assert await reminders.send_due_reminders(deps, due) == 0


async def test_reminder_refused_or_missed_is_recorded(deps: Deps, fake_wechat: Any) -> None:
    aid = await published(deps, capacity=10, remind_minutes_before=60)
    await signups.sign_up(deps, member("u1"), aid, "s1", FORM)  # no consent
    await signups.sign_up(deps, member("u2"), aid, "s2", FORM)
    await flush_all(deps)
    doc = await signups.activity(deps, aid)
    assert doc is not None
    s1, s2 = doc["sessions"][0]["starts_at"], doc["sessions"][1]["starts_at"]
    assert s2 > s1
    await reminders.send_due_reminders(deps, now=s1 - timedelta(minutes=30))
    await reminders.send_due_reminders(deps, now=s2 + timedelta(minutes=5))  # the job was down: too late
    states = {d["openid"]: d["reminder"] async for d in deps.db.signups.find({"activity_id": aid})}
    assert states == {"u1": "refused", "u2": "missed"}
    assert now() < s1


async def test_moving_a_session_moves_its_reminders(deps: Deps, fake_wechat: Any) -> None:
    from services.activities import definitions as activity_admin
    from tests.mp_activities.conftest import activity_def

    aid = await published(deps, capacity=10, remind_minutes_before=60)
    await signups.sign_up(deps, member("u1"), aid, "s1", FORM)
    await flush_all(deps)
    moved = activity_def(capacity=10)["sessions"]
    later = (now() + timedelta(days=5)).replace(microsecond=0)
    moved[0] |= {"starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=2)).isoformat()}
    await activity_admin.update_activity(deps, aid, {"sessions": moved}, editor_org=None)
    doc = await deps.db.signups.find_one({"activity_id": aid})
    assert doc is not None and doc["remind_at"] == later - timedelta(hours=1) and doc["reminder"] == "pending"
