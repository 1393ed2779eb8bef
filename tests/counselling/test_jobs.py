"""Subscribe notices (consent asked at booking, 43101 respected) and the 180-day purge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from services.counselling import booking, jobs, notices, store
from tests.counselling.conftest import INTAKE, late_slots, make_counsellor, member

TPL = "TPL_COUNSELLING_NOTICE"


async def test_confirmation_and_reminder_are_sent_once_and_a_refusal_is_recorded(deps: Deps, fake_wechat: Any) -> None:
    fake = fake_wechat.state
    await make_counsellor(deps, "tang_xl")
    far = await late_slots(deps, "tang_xl", 3)
    alice, bob, carol = member("n1"), member("n2"), member("n3")
    fake.grant_consent(alice.openid, TPL, 2)  # accepted twice in the mini-program: confirmation + reminder
    results = {}
    for who, slot, notify in ((alice, far[0], True), (bob, far[1], True), (carol, far[2], False)):
        held = await booking.hold(deps, who, slot)
        results[who.openid] = await booking.confirm(deps, who, held["id"], INTAKE | {"notify": notify})
    assert await notices.send_due(deps) == 1  # alice's confirmation; bob never consented: 43101
    payload = str(fake.last_payload("subscribe", alice.openid))
    assert "您的预约已确认" in payload and "心理" not in payload  # a lock screen does not tell what it is
    states = {d["_id"]: d["state"] async for d in deps.db.counselling_notices.find({})}
    bob_id, alice_id = results[bob.openid]["id"], results[alice.openid]["id"]
    assert states[f"{bob_id}:confirmed"] == "refused" and states[f"{alice_id}:confirmed"] == "sent"
    assert not any(k.startswith(results[carol.openid]["id"]) for k in states)  # no consent asked: nothing queued
    assert await notices.send_due(deps) == 0  # nothing twice
    reminder_due = (await deps.db.counselling_notices.find_one({"_id": f"{alice_id}:reminder"}))["due"]
    assert await notices.send_due(deps, reminder_due + timedelta(seconds=1)) == 1
    assert "即将开始" in str(fake.last_payload("subscribe", alice.openid))
    assert fake.delivered_count("subscribe") == 2  # one confirmation, one reminder
    settled = await deps.db.counselling_notices.find({"state": {"$ne": "pending"}}).to_list(None)
    assert all("to_sealed" not in d for d in settled)  # the openid leaves with the notice


async def test_a_cancelled_booking_sends_no_reminder(deps: Deps, fake_wechat: Any) -> None:
    await make_counsellor(deps, "song_xl")
    alice = member("n4")
    fake_wechat.state.grant_consent(alice.openid, TPL, 2)
    held = await booking.hold(deps, alice, (await late_slots(deps, "song_xl", 1))[0])
    await booking.confirm(deps, alice, held["id"], INTAKE | {"notify": True})
    await notices.send_due(deps)
    await booking.cancel(deps, alice, held["id"])
    assert await notices.send_due(deps, now() + timedelta(days=30)) == 0
    assert fake_wechat.state.delivered_count("subscribe") == 1


async def test_records_are_purged_180_days_after_the_session(deps: Deps) -> None:
    await make_counsellor(deps, "yang_xl")
    alice = member("old")
    slot = (await late_slots(deps, "yang_xl", 1))[0]
    held = await booking.hold(deps, alice, slot)
    await booking.confirm(deps, alice, held["id"], INTAKE | {"notify": True})
    ends = (await store.get_booking(deps.db, held["id"]))["ends_at"]
    kept = await jobs.purge(deps, ends + timedelta(days=179))
    assert kept["bookings"] == kept["notices"] == 0 and await store.get_slot(deps.db, slot) is not None
    gone = await jobs.purge(deps, ends + timedelta(days=181))
    assert gone["bookings"] == 1 and gone["notices"] == 2
    later = await jobs.purge(deps, ends + timedelta(days=181 + 31))  # the month's count goes 180 days after the month
    assert gone["quota"] + later["quota"] == 1 and await deps.db.counselling_quota.count_documents({}) == 0
    assert await store.get_booking(deps.db, held["id"]) is None and await store.get_slot(deps.db, slot) is None
    assert await deps.db.counselling_notices.count_documents({}) == 0
