"""The counsellor's own desk in the console: calendar, availability, on-duty, no-shows, approvals.

Only an account with the role `counsellor` has a desk, and it sees only its own bookings: every
booking read or change is filtered by `counsellor == the caller's username`, so another counsellor's
booking is "not found" (404), exactly like an id that does not exist. The contact is unsealed only
here, for the assigned counsellor. Every change is audited without anything that identifies the
worker (the audit log shows the booking id and its status, never the pseudonym or the contact).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound
from services.counselling import availability, store, store_desk
from services.counselling.booking import CONTACT_KINDS
from services.counselling.common import STATUS_TEXT, keys, month_key, require_counsellor
from services.editors import audit
from services.editors.scope import Scope

CALENDAR_STATUSES = ("pending_approval", "confirmed", "attended", "no_show", "late_cancelled")


def _view(deps: Deps, doc: dict[str, Any]) -> dict[str, Any]:
    contact = keys(deps).open_text(doc.get("contact_sealed") or "", doc["_id"]) if doc.get("contact_sealed") else ""
    return {
        "id": doc["_id"], "starts_at": doc["starts_at"], "ends_at": doc["ends_at"], "status": doc["status"],
        "status_text": STATUS_TEXT.get(doc["status"], doc["status"]), "topic": doc.get("topic", ""),
        "urgent": bool(doc.get("urgent")), "contact_kind": CONTACT_KINDS.get(doc.get("contact_kind", ""), ""),
        "contact": contact or "", "member_org": doc.get("member_org", ""),
    }  # fmt: skip


async def profile(deps: Deps, scope: Scope) -> dict[str, Any]:
    username = require_counsellor(scope)
    doc = await store_desk.get_counsellor(deps.db, username)
    return doc or {"_id": username, "name": scope.editor.name, "rules": [], "slot_minutes": 50, "on_duty": False}


async def calendar(deps: Deps, scope: Scope, days_back: int = 7) -> list[dict[str, Any]]:
    username = require_counsellor(scope)
    rows = await store.bookings_of_counsellor(deps.db, username, now() - timedelta(days=days_back), CALENDAR_STATUSES)
    return [_view(deps, r) for r in rows]


async def booking(deps: Deps, scope: Scope, booking_id: str) -> dict[str, Any]:
    return _view(deps, await _own(deps, scope, booking_id))


async def _own(deps: Deps, scope: Scope, booking_id: str) -> dict[str, Any]:
    username = require_counsellor(scope)
    doc = await store.get_booking(deps.db, booking_id)
    if doc is None or doc["counsellor"] != username or doc["status"] in ("held", "released", "expired"):
        raise NotFound("预约不存在或不属于您", code="booking_not_found")
    return doc


async def _audit(deps: Deps, scope: Scope, action: str, booking_id: str, summary: str, before: str, after: str) -> None:
    await audit.record(
        deps.db, scope.editor, action, "counselling", booking_id, scope.editor.org_path,
        summary=summary, before={"status": before}, after={"status": after}, ip=scope.ip,
    )  # fmt: skip


async def mark(deps: Deps, scope: Scope, booking_id: str, outcome: str) -> dict[str, Any]:
    """After the session started: attended or no-show (a no-show counts towards approval)."""
    if outcome not in ("attended", "no_show"):
        raise BadInput("请选择：已完成 或 未到", code="outcome")
    doc = await _own(deps, scope, booking_id)
    at = now()
    if doc["starts_at"] > at:
        raise Conflict("咨询开始后才能标记是否到场", code="not_started")
    if doc["status"] == outcome:
        return _view(deps, doc)
    after = await store.update_booking(
        deps.db, booking_id, {"status": "confirmed"}, {"status": outcome, "marked_at": at}, ("active_member",)
    )
    if after is None:
        raise Conflict("只有已预约的咨询可以标记到场情况", code="bad_status")
    if outcome == "no_show":
        await store.add_no_show(deps.db, doc["member"], at)
    await _audit(deps, scope, "mark", booking_id, f"标记为{STATUS_TEXT[outcome]}", doc["status"], outcome)
    return _view(deps, after)


async def decide(deps: Deps, scope: Scope, booking_id: str, approve: bool) -> dict[str, Any]:
    """The approval queue: a booking made after two no-shows waits for its counsellor."""
    doc = await _own(deps, scope, booking_id)
    at = now()
    if doc["status"] != "pending_approval":
        raise Conflict("该预约不在待确认状态", code="bad_status")
    if approve:
        after = await store.update_booking(
            deps.db, booking_id, {"status": "pending_approval"}, {"status": "confirmed", "approved_at": at}
        )
        if after is not None:
            await store.clear_no_shows(deps.db, doc["member"], at)
    else:
        after = await store.update_booking(
            deps.db,
            booking_id,
            {"status": "pending_approval"},
            {"status": "rejected", "cancelled_at": at},
            ("active_member",),
        )
        if after is not None:
            await store_desk.drop_notices(deps.db, booking_id)
            await store.release_slot(deps.db, doc["slot_id"], booking_id, ("booked",))
            await store.quota_remove(deps.db, doc["member"], month_key(doc["starts_at"]), booking_id)
    if after is None:
        raise Conflict("该预约刚被处理过，请刷新", code="bad_status")
    action = "approve" if approve else "reject"
    await _audit(
        deps, scope, action, booking_id, "确认预约" if approve else "未确认预约", doc["status"], after["status"]
    )
    return _view(deps, after)


async def save_availability(deps: Deps, scope: Scope, data: dict[str, Any]) -> dict[str, Any]:
    """Weekly hours, session length, intro: saved, then the next two weeks' slots regenerated."""
    username = require_counsellor(scope)
    rules = availability.parse_rules(data.get("rules"))
    minutes = availability.check_minutes(data.get("slot_minutes", 50))
    intro = str(data.get("intro") or "").strip()[:300]
    before = await store_desk.get_counsellor(deps.db, username) or {}
    fields = {
        "name": scope.editor.name, "org": scope.editor.org, "org_path": list(scope.editor.org_path),
        "rules": [r.as_doc() for r in rules], "slot_minutes": minutes, "intro": intro, "updated_at": now(),
    }  # fmt: skip
    after = await store_desk.save_counsellor(deps.db, username, fields)
    created = await regenerate(deps, after)
    await audit.record(
        deps.db, scope.editor, "update", "counselling", username, scope.editor.org_path, summary="修改可预约时间",
        before={k: before.get(k) for k in ("rules", "slot_minutes", "intro")},
        after={k: after.get(k) for k in ("rules", "slot_minutes", "intro")}, ip=scope.ip,
    )  # fmt: skip
    return {"counsellor": after, "new_slots": created}


async def regenerate(deps: Deps, counsellor: dict[str, Any]) -> int:
    """The horizon's slots match the availability: new ones open, dropped open ones close."""
    at = now()
    docs = availability.slot_docs(counsellor, at)
    wanted = {d["_id"] for d in docs}
    states = await store.slot_states(deps.db, counsellor["_id"], at)
    created = await store.insert_slots(deps.db, [d for d in docs if d["_id"] not in states])
    await store.move_slots(deps.db, [i for i in wanted if states.get(i) == "closed"], "closed", "open")
    await store.move_slots(deps.db, [i for i, s in states.items() if s == "open" and i not in wanted], "open", "closed")
    return created


async def set_on_duty(deps: Deps, scope: Scope, on: bool) -> dict[str, Any]:
    username = require_counsellor(scope)
    fields = {
        "on_duty": on,
        "name": scope.editor.name,
        "org": scope.editor.org,
        "org_path": list(scope.editor.org_path),
    }
    after = await store_desk.save_counsellor(deps.db, username, fields)
    after.setdefault("rules", [])
    await audit.record(
        deps.db, scope.editor, "update", "counselling", username, scope.editor.org_path,
        summary="开始值班" if on else "结束值班", after={"on_duty": on}, ip=scope.ip,
    )  # fmt: skip
    return after


async def slots(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    username = require_counsellor(scope)
    at = now()
    rows = await store.slots_of(
        deps.db, username, at - timedelta(hours=1), at + timedelta(days=availability.HORIZON_DAYS)
    )
    return [{"id": r["_id"], "starts_at": r["starts_at"], "state": r["state"]} for r in rows]


async def block_slot(deps: Deps, scope: Scope, slot_id: str, blocked: bool) -> dict[str, Any]:
    """A day off: one open slot closed by hand (`blocked`, which slot generation never reopens), or back."""
    username = require_counsellor(scope)
    slot = await store.get_slot(deps.db, slot_id)
    if slot is None or slot["counsellor"] != username or slot["starts_at"] <= now():
        raise NotFound("时段不存在或已开始", code="slot_not_found")
    before, after = ("open", "blocked") if blocked else ("blocked", "open")
    if not await store.move_slots(deps.db, [slot_id], before, after):
        raise Conflict(
            "该时段已被预约或保留，不能停约；如需调整请联系预约人" if blocked else "该时段未停约", code="slot_busy"
        )
    await audit.record(
        deps.db, scope.editor, "update", "counselling", slot_id, scope.editor.org_path,
        summary="停约时段" if blocked else "恢复时段", before={"state": before}, after={"state": after}, ip=scope.ip,
    )  # fmt: skip
    return {"id": slot_id, "starts_at": slot["starts_at"], "state": after}
