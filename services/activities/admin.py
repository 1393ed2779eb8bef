"""Activities (报名) in the console: over services.activities.definitions (definitions, status) and the sign-up
state, adding the form parsing, the scope check, idempotent creation, the audit log, live numbers per
session and the sign-up list export (with the roster's names, so organisers can run the event)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from functools import partial
from typing import Any

from core.deps import Deps
from services.activities import definitions as activity_admin
from services.activities import signups, signups_store
from services.activities import store as repo
from services.activities.flusher import flush_activity, state
from services.editors import audited
from services.editors.scope import Scope
from services.members.binding import member_contacts
from services.orgs import store as orgs
from services.surveys.admin import answer_label
from services.surveys.questions import InvalidDefinition

KIND = audited.Kind("activity", "活动")
SESSION_SLOTS = 8
UNBOUND = "未绑定会员"  # a worker who signed up without binding membership: no roster name to show
STATUS_NAMES = {"confirmed": "报名成功", "waitlisted": "候补", "cancelled": "已取消"}


def _int(form: dict[str, str], key: str, default: int | None, label: str) -> int | None:
    raw = form.get(key, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidDefinition({key: f"{label}应为整数"}) from None


def from_form(form: dict[str, str]) -> dict[str, Any]:
    sessions = []
    for i in range(1, SESSION_SLOTS + 1):
        p = f"s{i}_"
        if not any(form.get(p + k, "").strip() for k in ("title", "starts_at", "ends_at", "capacity")):
            continue
        sessions.append(
            {
                "id": form.get(p + "id") or f"s{i}",
                "title": form.get(p + "title", ""),
                "starts_at": form.get(p + "starts_at", ""),
                "ends_at": form.get(p + "ends_at", ""),
                "place": form.get(p + "place", ""),
                "capacity": _int(form, p + "capacity", None, f"第 {i} 个场次的名额"),
            }
        )
    try:
        questions = json.loads(form.get("form") or "[]")
    except ValueError:
        raise InvalidDefinition({"form": "报名表的 JSON 格式不正确"}) from None
    data: dict[str, Any] = {
        "title": form.get("title", ""),
        "description": form.get("description", ""),
        "place": form.get("place", ""),
        "members_only": form.get("members_only") == "1",
        "sessions": sessions,
        "form": questions,
        "per_user_limit": _int(form, "per_user_limit", 1, "每人可报场次数"),
        "waitlist": {
            "enabled": form.get("waitlist_enabled") == "1",
            "limit": _int(form, "waitlist_limit", None, "候补人数上限"),
        },
        "remind_minutes_before": _int(form, "remind_minutes_before", 120, "提前提醒分钟数"),
        "checkin_minutes_before": _int(form, "checkin_minutes_before", 60, "提前签到分钟数"),
    }
    for key in ("signup_opens_at", "signup_deadline", "cancel_deadline"):
        if form.get(key):
            data[key] = form[key]
    return data


async def create(deps: Deps, scope: Scope, data: dict[str, Any], form_key: str = "") -> dict[str, Any]:
    def store(doc: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        return activity_admin.create_activity(deps, doc, editor_org=scope.root, created_by=scope.editor.username)

    return await get(deps, scope, await audited.create(deps, scope, KIND, data, form_key, store))


async def get(deps: Deps, scope: Scope, activity_id: str) -> dict[str, Any]:
    return scope.check_doc(await repo.get(deps.db, activity_id), "活动")


async def update(deps: Deps, scope: Scope, activity_id: str, data: dict[str, Any]) -> dict[str, Any]:
    def store(changes: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        return activity_admin.update_activity(deps, activity_id, changes, editor_org=scope.root)

    return await audited.update(deps, scope, KIND, partial(get, deps, scope, activity_id), data, store)


async def act(deps: Deps, scope: Scope, activity_id: str, action: str) -> dict[str, Any] | None:
    async def delete() -> None:
        await activity_admin.delete_activity(deps, activity_id, editor_org=scope.root)

    actions: dict[str, audited.Action] = {
        "publish": partial(activity_admin.publish_activity, deps, activity_id, editor_org=scope.root),
        "cancel": partial(activity_admin.cancel_activity, deps, activity_id, editor_org=scope.root),
        "delete": delete,
    }
    return await audited.act(deps, scope, KIND, partial(get, deps, scope, activity_id), action, actions)


async def list_for(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    rows = await activity_admin.list_activities(deps, editor_org=scope.org)
    return [r for r in rows if scope.covers(r.get("org_path"))]


async def numbers(deps: Deps, doc: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(confirmed, waitlisted) per session, live from Redis; zeros for a draft."""
    if doc["status"] == "draft":
        return {s["id"]: (0, 0) for s in doc["sessions"]}
    await signups.ensure_state(deps, doc)
    return await state(deps).session_numbers(doc["_id"], [s["id"] for s in doc["sessions"]])


async def signup_rows(deps: Deps, scope: Scope, activity_id: str, limit: int | None = None) -> AsyncIterator[list[Any]]:
    """Header + one row per sign-up in arrival order, streamed; pending Redis writes are flushed first."""
    doc = await get(deps, scope, activity_id)
    await flush_activity(deps, activity_id)
    sessions = {s["id"]: s.get("title") or s["id"] for s in doc["sessions"]}
    questions = doc.get("form") or []
    yield [
        "序号",
        "场次",
        "状态",
        "姓名",
        "手机号",
        "会员编号",
        "所属工会",
        "报名时间",
        "签到时间",
        *(q["title"] for q in questions),
    ]
    async for batch in signups_store.stream_for_activity(deps.db, activity_id, limit):
        for row in await _rows(deps, batch, sessions, questions):
            yield row


async def _rows(
    deps: Deps, batch: list[dict[str, Any]], sessions: dict[str, str], questions: list[dict[str, Any]]
) -> list[list[Any]]:
    ids = [s["member_id"] for s in batch if s.get("member_id")]
    members = await member_contacts(deps, ids)
    org_names = {
        c: o.name for c, o in (await orgs.get_many(deps.db, sorted({s["org"] for s in batch if s.get("org")}))).items()
    }
    out = []
    for s in batch:
        m = members.get(s.get("member_id") or "", {})
        form = s.get("form") or {}
        out.append(
            [
                s["seq"],
                sessions.get(s["session_id"], s["session_id"]),
                STATUS_NAMES.get(s["status"], s["status"]),
                m.get("name") or (UNBOUND if not s.get("member_id") else ""),
                m.get("phone", ""),
                s.get("member_id") or "",
                org_names.get(s.get("org") or "", s.get("org") or ""),
                s.get("created_at"),
                s.get("checked_in_at"),
                *(answer_label(q, form.get(q["id"])) for q in questions),
            ]
        )
    return out
