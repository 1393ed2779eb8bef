"""Booking rules against real MongoDB-wire and the app over HTTP: holds, confirmations, limits, cancellations."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from core.clock import now
from core.deps import Deps
from core.errors import Conflict, Forbidden, NotFound
from services.counselling import booking, desk, store
from services.counselling.common import keys, month_end, month_key
from services.members.sessions import CurrentUser
from tests.counselling.conftest import INTAKE, Api, late_slots, make_counsellor, member, open_slots, token_for


async def test_200_concurrent_holds_on_20_slots_make_exactly_20_bookings(deps: Deps, api: Api) -> None:
    await make_counsellor(deps, "zhang_xl")
    slots = (await late_slots(deps, "zhang_xl", 20))[:20]
    workers = [member(i) for i in range(200)]
    tokens = await asyncio.gather(*(token_for(deps, w) for w in workers))
    holds = await asyncio.gather(
        *(api.call("POST", f"/api/mp/counselling/slots/{slots[i % 20]}/hold", t) for i, t in enumerate(tokens))
    )
    won = [(tokens[i], body) for i, (code, body) in enumerate(holds) if code == 201]
    lost = [body for code, body in holds if code != 201]
    assert len(won) == 20 and {b["slot_id"] for _, b in won} == set(slots)
    assert {b["code"] for b in lost} == {"slot_taken"} and all("选走" in b["message"] for b in lost)
    confirms = await asyncio.gather(
        *(api.call("POST", f"/api/mp/counselling/bookings/{b['id']}/confirm", t, INTAKE) for t, b in won)
    )
    assert [c for c, _ in confirms] == [200] * 20 and {b["status"] for _, b in confirms} == {"confirmed"}
    booked = await deps.db.counselling_bookings.find({"status": "confirmed"}).to_list(None)
    assert len(booked) == 20 and len({b["member"] for b in booked}) == 20
    assert {b["slot_id"] for b in booked} == set(slots)
    slot_docs = await deps.db.counselling_slots.find({"_id": {"$in": slots}}).to_list(None)
    assert {s["state"] for s in slot_docs} == {"booked"}
    assert {s["booking_id"] for s in slot_docs} == {b["_id"] for b in booked}
    # nobody twice: the 20 winners, each racing for 5 more slots at once, get nothing more
    more = await open_slots(deps, "zhang_xl", 5)
    again = await asyncio.gather(
        *(api.call("POST", f"/api/mp/counselling/slots/{s}/hold", t) for t, _ in won for s in more)
    )
    assert {c for c, _ in again} == {409} and {b["code"] for _, b in again} == {"active_booking"}
    assert await deps.db.counselling_slots.count_documents({"_id": {"$in": more}, "state": "open"}) == 5


async def test_one_member_racing_for_ten_slots_holds_one(deps: Deps, api: Api) -> None:
    await make_counsellor(deps, "li_xl")
    slots = await late_slots(deps, "li_xl", 10)
    token = await token_for(deps, member("racer"))
    results = await asyncio.gather(*(api.call("POST", f"/api/mp/counselling/slots/{s}/hold", token) for s in slots))
    assert sorted(c for c, _ in results) == [201] + [409] * 9
    assert await deps.db.counselling_slots.count_documents({"_id": {"$in": slots}, "state": "held"}) == 1
    assert await deps.db.counselling_slots.count_documents({"_id": {"$in": slots}, "state": "open"}) == 9


async def test_hold_confirm_cancel_and_privacy_at_rest(deps: Deps) -> None:
    await make_counsellor(deps, "wang_xl")
    slot = (await late_slots(deps, "wang_xl", 1))[0]
    alice, bob = member("alice"), member("bob")
    held = await booking.hold(deps, alice, slot)
    assert held["status"] == "held" and held["hold_expires_at"]
    assert (await booking.hold(deps, alice, slot))["id"] == held["id"]  # a retry: the same hold
    with pytest.raises(Conflict) as taken:
        await booking.hold(deps, bob, slot)
    assert taken.value.code == "slot_taken"
    with pytest.raises(NotFound):
        await booking.confirm(deps, bob, held["id"], INTAKE)  # only the holder confirms
    done = await booking.confirm(deps, alice, held["id"], INTAKE | {"notify": True})
    assert done["status"] == "confirmed" and done["crisis_reply"] is None
    assert (await booking.confirm(deps, alice, held["id"], INTAKE))["status"] == "confirmed"  # retry
    raw = await deps.db.counselling_bookings.find_one({"_id": held["id"]})
    text = json.dumps(raw, default=str, ensure_ascii=False)
    assert "13800138000" not in text and "alice" not in text and "o_walice" not in text
    assert keys(deps).open_text(raw["contact_sealed"], held["id"]) == "13800138000"
    assert keys(deps).open_text(raw["contact_sealed"], "another-booking") is None  # bound to its booking
    notices = await deps.db.counselling_notices.find({"booking_id": held["id"]}).to_list(None)
    assert {n["kind"] for n in notices} == {"confirmed", "reminder"}
    assert "o_walice" not in json.dumps(notices, default=str)
    other = (await late_slots(deps, "wang_xl", 2))[1]
    with pytest.raises(Conflict) as second:
        await booking.hold(deps, alice, other)
    assert second.value.code == "active_booking"
    cancelled = await booking.cancel(deps, alice, held["id"])
    assert cancelled["status"] == "cancelled"
    assert (await store.get_slot(deps.db, slot))["state"] == "open"  # ≥ 4 h before: the slot reopens
    quota = await deps.db.counselling_quota.find_one({})
    assert quota["ids"] == []  # and the month's count is given back
    assert await deps.db.counselling_notices.count_documents({"booking_id": held["id"], "state": "pending"}) == 0
    assert (await booking.hold(deps, bob, slot))["status"] == "held"
    mine = await booking.my_bookings(deps, alice, "", 20)
    assert [b["status"] for b in mine["items"]] == ["cancelled"]


async def test_late_cancellation_keeps_the_slot_taken(deps: Deps) -> None:
    await make_counsellor(deps, "zhao_xl")
    soon = await deps.db.counselling_slots.find_one(
        {"counsellor": "zhao_xl", "starts_at": {"$gt": now() + timedelta(minutes=5), "$lt": now() + timedelta(hours=3)}}
    )
    alice = member("late")
    b = await booking.hold(deps, alice, soon["_id"])
    await booking.confirm(deps, alice, b["id"], INTAKE)
    assert (await booking.cancel(deps, alice, b["id"]))["status"] == "late_cancelled"
    assert (await store.get_slot(deps.db, soon["_id"]))["state"] == "late_cancelled"
    assert (await deps.db.counselling_quota.find_one({}))["ids"] == [b["id"]]  # it still counts


async def test_monthly_cap_is_one_guarded_upsert(deps: Deps) -> None:
    at = now()
    results = await asyncio.gather(
        *(store.quota_add(deps.db, "m", "2026-12", f"b{i}", 4, month_end(at)) for i in range(20))
    )
    assert results.count(True) == 4
    doc = await deps.db.counselling_quota.find_one({"_id": "m:2026-12"})
    assert len(doc["ids"]) == 4
    assert await store.quota_add(deps.db, "m", "2026-12", doc["ids"][0], 4, month_end(at))  # counted once


async def test_fifth_booking_in_a_month_is_refused(deps: Deps) -> None:
    await make_counsellor(deps, "qian_xl")
    slot = (await late_slots(deps, "qian_xl", 1))[0]
    alice = member("cap")
    held = await booking.hold(deps, alice, slot)
    pseudo, start = keys(deps).pseudonym("member", alice.member_id), (await store.get_slot(deps.db, slot))["starts_at"]
    for i in range(4):
        assert await store.quota_add(deps.db, pseudo, month_key(start), f"earlier{i}", 4, month_end(start))
    with pytest.raises(Conflict) as refused:
        await booking.confirm(deps, alice, held["id"], INTAKE)
    assert refused.value.code == "monthly_limit" and "4 次" in refused.value.message
    assert (await store.get_slot(deps.db, slot))["state"] == "held"  # still the worker's until the hold ends


async def test_two_no_shows_make_the_next_booking_wait_for_approval(deps: Deps) -> None:
    scope = await make_counsellor(deps, "sun_xl")
    alice = member("noshow")
    pseudo = keys(deps).pseudonym("member", alice.member_id)
    await store.add_no_show(deps.db, pseudo, now())
    await store.add_no_show(deps.db, pseudo, now())
    slot = (await late_slots(deps, "sun_xl", 1))[0]
    held = await booking.hold(deps, alice, slot)
    pending = await booking.confirm(deps, alice, held["id"], INTAKE)
    assert pending["status"] == "pending_approval"
    calendar = await desk.calendar(deps, scope)
    assert [b["status"] for b in calendar] == ["pending_approval"] and calendar[0]["contact"] == "13800138000"
    approved = await desk.decide(deps, scope, held["id"], approve=True)
    assert approved["status"] == "confirmed"
    assert (await store.member_record(deps.db, pseudo))["no_shows"] == 0
    audit = await deps.db.audit_log.find_one({"action": "approve"})
    assert audit is not None and audit["target_type"] == "counselling" and pseudo not in json.dumps(audit, default=str)


async def test_bookings_need_a_membership_and_the_right_org(deps: Deps) -> None:
    await make_counsellor(deps, "zhou_xl", org="370100")
    slot = (await late_slots(deps, "zhou_xl", 1))[0]
    with pytest.raises(Forbidden):
        await booking.hold(deps, CurrentUser("o_guest"), slot)
    with pytest.raises(NotFound):  # a Qingdao member cannot hold a Jinan counsellor's slot
        await booking.hold(deps, member("qd", ("370000", "370200")), slot)
    listed = await booking.list_counsellors(deps, member("jn", ("370000", "370100", "370102")))
    assert [c["id"] for c in listed["items"]] == ["zhou_xl"]
    page = await booking.list_slots(deps, member("jn"), "zhou_xl", "", 5)
    assert len(page["items"]) == 5 and page["next_cursor"]
    page2 = await booking.list_slots(deps, member("jn"), "zhou_xl", page["next_cursor"], 5)
    assert page2["items"][0]["starts_at"] > page["items"][-1]["starts_at"]
