"""Workers book counselling: list counsellors and free slots, hold one, confirm with a short intake, cancel.

Every limit is decided by MongoDB in one step: the hold is one guarded update on a free slot; one
active booking per member is a unique index; the monthly cap is one guarded upsert; confirming turns
the slot from held to booked only while the hold is alive, and only for the booking that holds it.
Retries are harmless: holding the slot you already hold, confirming a confirmed booking or cancelling
a cancelled one answer with the booking as it is.
"""

from __future__ import annotations

import base64
import os
import re
from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound
from services.counselling import alerts, notices, store, store_desk
from services.counselling.common import (
    CANCEL_NOTICE,
    MONTHLY_LIMIT,
    NO_SHOWS_FOR_APPROVAL,
    iso,
    keys,
    member_of,
    month_end,
    month_key,
    worker_view,
)
from services.counselling.crisis import HOTLINE_REPLY, crisis_reply
from services.members.sessions import CurrentUser

CONTACT_KINDS = {"phone": "电话", "wechat": "微信语音/视频", "in_person": "到工会心理服务室面谈"}
_PHONE = re.compile(r"^1\d{10}$|^0\d{2,3}-?\d{7,8}$")
SLOT_DAYS = 14


def _cursor(raw: str) -> tuple[Any, str] | None:
    if not raw:
        return None
    try:
        stamp, _, last_id = base64.urlsafe_b64decode(raw.encode() + b"==").decode().partition("|")
        from datetime import datetime

        return datetime.fromisoformat(stamp), last_id
    except (ValueError, UnicodeDecodeError):
        raise BadInput("cursor 无效，请从第一页重新加载", code="invalid_cursor") from None


def _next_cursor(rows: list[dict[str, Any]], limit: int) -> str | None:
    if len(rows) < limit:
        return None
    last = rows[-1]
    return base64.urlsafe_b64encode(f"{last['starts_at'].isoformat()}|{last['_id']}".encode()).decode().rstrip("=")


async def list_counsellors(deps: Deps, user: CurrentUser) -> dict[str, Any]:
    member_of(deps, user)
    rows = await store_desk.counsellors_serving(deps.db, user.org_path)
    depth = {code: i for i, code in enumerate(user.org_path)}
    rows.sort(key=lambda d: (-depth.get(d["org"], 0), d.get("name", "")))  # the nearest org first
    items = [{"id": d["_id"], "name": d.get("name", ""), "org": d["org"], "intro": d.get("intro", "")} for d in rows]
    return {"items": items}


async def list_slots(deps: Deps, user: CurrentUser, counsellor: str, cursor: str, limit: int) -> dict[str, Any]:
    member_of(deps, user)
    serving = {d["_id"]: d for d in await store_desk.counsellors_serving(deps.db, user.org_path)}
    wanted = [counsellor] if counsellor else list(serving)
    if counsellor and counsellor not in serving:
        raise NotFound("咨询师不存在或不为您所在单位服务", code="counsellor_not_found")
    at = now()
    rows = await store.free_slots(deps.db, wanted, at, at + timedelta(days=SLOT_DAYS), _cursor(cursor), limit)
    items = [
        {"id": r["_id"], "counsellor": r["counsellor"], "counsellor_name": serving[r["counsellor"]].get("name", ""),
         "starts_at": iso(r["starts_at"]), "ends_at": iso(r["ends_at"])}
        for r in rows
    ]  # fmt: skip
    return {"items": items, "next_cursor": _next_cursor(rows, limit)}


async def hold(deps: Deps, user: CurrentUser, slot_id: str) -> dict[str, Any]:
    """Hold `slot_id` for `counselling.hold_seconds` (5 minutes) for the calling worker."""
    member = member_of(deps, user)
    at = now()
    existing = await store.active_booking(deps.db, member)
    if existing is not None:
        if existing["status"] == "held" and existing["hold_expires"] <= at:
            await expire(deps, existing["_id"], existing["slot_id"], at)
        elif existing["status"] == "held" and existing["slot_id"] == slot_id:
            return worker_view(existing)  # a retry of the same hold
        else:
            raise _active_conflict(existing)
    booking_id = base64.b32encode(os.urandom(10)).decode().lower()
    until = at + timedelta(seconds=deps.settings.counselling.hold_seconds)
    before = await store.hold_slot(deps.db, slot_id, user.org_path, booking_id, at, until)
    if before is None:
        raise await _why_not_free(deps, user, slot_id, at)
    if before.get("state") == "held" and before.get("booking_id"):
        await expire(deps, before["booking_id"], None, at)  # we took over an expired hold
    counsellor = await store_desk.get_counsellor(deps.db, before["counsellor"]) or {}
    doc = {
        "_id": booking_id, "slot_id": slot_id, "counsellor": before["counsellor"],
        "counsellor_name": counsellor.get("name", ""), "counsellor_org_path": before["org_path"],
        "member": member, "active_member": member, "member_org": user.org, "member_org_path": list(user.org_path),
        "starts_at": before["starts_at"], "ends_at": before["ends_at"], "status": "held", "hold_expires": until,
        "created_at": at,
    }  # fmt: skip
    if not await store.insert_booking(deps.db, doc):
        await store.release_slot(deps.db, slot_id, booking_id, ("held",))
        other = await store.active_booking(deps.db, member)
        if other is not None and other["status"] == "held" and other["slot_id"] == slot_id:
            return worker_view(other)
        raise _active_conflict(other)
    return worker_view(doc)


def _active_conflict(existing: dict[str, Any] | None) -> Conflict:
    if existing is not None and existing["status"] == "held":
        return Conflict("您已保留了另一个时段，请先确认或放弃它", code="already_holding")
    return Conflict("您已有一个未结束的心理咨询预约，结束或取消后才能再预约", code="active_booking")


async def _why_not_free(deps: Deps, user: CurrentUser, slot_id: str, at: Any) -> Exception:
    slot = await store.get_slot(deps.db, slot_id)
    if slot is None or slot["org"] not in user.org_path:
        return NotFound("该时段不存在或不对您所在单位开放", code="slot_not_found")
    if slot["starts_at"] <= at:
        return Conflict("该时段已开始，请选择其他时段", code="slot_started")
    if slot["state"] in ("blocked", "closed"):
        return Conflict("咨询师该时段不接待预约，请选择其他时段", code="slot_closed")
    return Conflict("该时段刚被其他人选走，请选择其他时段", code="slot_taken")


async def expire(deps: Deps, booking_id: str, slot_id: str | None, at: Any) -> bool:
    """A dead hold: the booking no longer blocks its member; its slot (when given) opens again."""
    done = await store.update_booking(
        deps.db,
        booking_id,
        {"status": "held"},
        {"status": "expired", "ended_at": at},
        ("active_member", "hold_expires"),
    )
    if done is not None and slot_id:
        await store.release_slot(deps.db, slot_id, booking_id, ("held", "booked"))
    return done is not None


async def _mine(deps: Deps, user: CurrentUser, booking_id: str) -> tuple[str, dict[str, Any]]:
    member = member_of(deps, user)
    doc = await store.get_booking(deps.db, booking_id)
    if doc is None or doc["member"] != member:
        raise NotFound("预约不存在", code="booking_not_found")
    return member, doc


def check_intake(data: dict[str, Any]) -> dict[str, Any]:
    topic = str(data.get("topic") or "").strip()
    if not 1 <= len(topic) <= 200:
        raise BadInput("请简单写下想聊的话题（200 字以内）", code="topic")
    kind = data.get("contact_kind")
    if kind not in CONTACT_KINDS:
        raise BadInput("请选择联系方式：电话、微信语音/视频 或 面谈", code="contact_kind")
    contact = str(data.get("contact") or "").strip()
    if kind == "phone" and not _PHONE.match(contact):
        raise BadInput("请填写正确的手机号或固定电话", code="contact")
    if len(contact) > 60:
        raise BadInput("联系方式不超过 60 字", code="contact")
    if not isinstance(data.get("urgent"), bool):
        raise BadInput("请回答：您现在是否有伤害自己或他人的想法，或正处在危险中？", code="urgent")
    return {
        "topic": topic,
        "contact_kind": kind,
        "contact": contact,
        "urgent": data["urgent"],
        "notify": bool(data.get("notify")),
    }


async def confirm(deps: Deps, user: CurrentUser, booking_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """The holder confirms with the intake. An urgent answer (or crisis words) adds the hotlines and alerts."""
    member, doc = await _mine(deps, user, booking_id)
    if doc["status"] in ("confirmed", "pending_approval"):
        return worker_view(doc)
    at = now()
    if doc["status"] != "held" or doc["hold_expires"] <= at:
        raise Conflict("保留已超过 5 分钟或已失效，请重新选择时段", code="hold_expired")
    intake = check_intake(data)
    month = month_key(doc["starts_at"])
    if not await store.quota_add(deps.db, member, month, booking_id, MONTHLY_LIMIT, month_end(doc["starts_at"])):
        raise Conflict(f"每月最多预约 {MONTHLY_LIMIT} 次心理咨询，本月次数已用完", code="monthly_limit")
    if not await store.book_slot(deps.db, doc["slot_id"], booking_id, at):
        await store.quota_remove(deps.db, member, month, booking_id)
        raise Conflict("保留已超过 5 分钟或已失效，请重新选择时段", code="hold_expired")
    record = await store.member_record(deps.db, member)
    status = "pending_approval" if int(record.get("no_shows", 0)) >= NO_SHOWS_FOR_APPROVAL else "confirmed"
    sealed = keys(deps).seal(intake["contact"], booking_id) if intake["contact"] else ""
    fields = {
        "status": status, "topic": intake["topic"], "urgent": intake["urgent"], "contact_kind": intake["contact_kind"],
        "contact_sealed": sealed, "notify": intake["notify"], "confirmed_at": at,
    }  # fmt: skip
    after = await store.update_booking(deps.db, booking_id, {"status": "held"}, fields, ("hold_expires",))
    if after is None:  # expired by the sweeper in the same instant: give the slot back
        await store.release_slot(deps.db, doc["slot_id"], booking_id, ("booked",))
        await store.quota_remove(deps.db, member, month, booking_id)
        raise Conflict("保留已超过 5 分钟或已失效，请重新选择时段", code="hold_expired")
    if intake["notify"]:
        await notices.queue_for(deps, after, user.openid, at)
    view = worker_view(after)
    reply = crisis_reply(intake["topic"]) or (HOTLINE_REPLY if intake["urgent"] else None)
    if reply:
        await alerts.alert_on_duty(
            deps, source="intake", text=intake["topic"], org_path=user.org_path, reach=user.openid
        )
    view["crisis_reply"] = reply
    return view


async def cancel(deps: Deps, user: CurrentUser, booking_id: str) -> dict[str, Any]:
    """≥ 4 h before: the slot reopens and the month's count is given back; later: the slot stays taken."""
    member, doc = await _mine(deps, user, booking_id)
    at = now()
    status = doc["status"]
    if status in ("cancelled", "late_cancelled", "released", "expired", "rejected"):
        return worker_view(doc)
    if status == "held":
        after = await store.update_booking(
            deps.db,
            booking_id,
            {"status": "held"},
            {"status": "released", "ended_at": at},
            ("active_member", "hold_expires"),
        )
        await store.release_slot(deps.db, doc["slot_id"], booking_id, ("held",))
        return worker_view(after or await _reload(deps, booking_id))
    if status not in ("confirmed", "pending_approval") or doc["starts_at"] <= at:
        raise Conflict("咨询已开始或已结束，不能取消", code="too_late")
    early = doc["starts_at"] - at >= CANCEL_NOTICE
    new_status = "cancelled" if early else "late_cancelled"
    after = await store.update_booking(
        deps.db, booking_id, {"status": status}, {"status": new_status, "cancelled_at": at}, ("active_member",)
    )
    if after is None:
        return worker_view(await _reload(deps, booking_id))
    await store_desk.drop_notices(deps.db, booking_id)
    if early:
        await store.release_slot(deps.db, doc["slot_id"], booking_id, ("booked",))
        await store.quota_remove(deps.db, member, month_key(doc["starts_at"]), booking_id)
    else:
        await store.release_slot(deps.db, doc["slot_id"], booking_id, ("booked",), to="late_cancelled")
    return worker_view(after)


async def _reload(deps: Deps, booking_id: str) -> dict[str, Any]:
    doc = await store.get_booking(deps.db, booking_id)
    if doc is None:
        raise NotFound("预约不存在", code="booking_not_found")
    return doc


async def active(deps: Deps, user: CurrentUser) -> dict[str, Any] | None:
    """The worker's one active booking (held, waiting for approval or upcoming), for their home page."""
    if not user.is_member or not user.org_path:
        return None  # the home page asks everyone; only members can book
    doc = await store.active_booking(deps.db, member_of(deps, user))
    if doc is None or (doc["status"] == "held" and doc["hold_expires"] <= now()):
        return None
    return worker_view(doc)


async def my_bookings(deps: Deps, user: CurrentUser, cursor: str, limit: int) -> dict[str, Any]:
    member = member_of(deps, user)
    rows = await store.bookings_of_member(deps.db, member, _cursor(cursor), limit)
    return {"items": [worker_view(r) for r in rows], "next_cursor": _next_cursor(rows, limit)}
