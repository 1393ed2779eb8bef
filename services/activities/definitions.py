"""Editors' side of activities (报名活动): create, edit, publish, cancel, delete, with definition checks.

`editor_org` is the org the editor administers (`None`: the system). Changes to capacities, waitlist rules
or the per-user limit of a live activity reach the Redis state at once (services.activities.signups.apply_config),
and freed places are given to the waitlist in order.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound
from services.activities import signups
from services.activities import signups_store as signups_repo
from services.activities import store as repo
from services.orgs import visibility
from services.surveys.definitions import check_scope
from services.surveys.questions import FORM_TYPES, ID_RE, InvalidDefinition, normalize_questions, parse_time
from storage.item_cache import changed

FIELDS = {
    "org", "title", "description", "place", "members_only", "signup_opens_at", "signup_deadline",
    "cancel_deadline", "per_user_limit", "waitlist", "form", "sessions", "remind_minutes_before",
    "checkin_minutes_before",
}  # fmt: skip
LOCKED_AFTER_PUBLISH = {"org", "form", "members_only"}
MAX_SESSIONS, MAX_CAPACITY = 50, 100_000


def _int(
    data: dict[str, Any], key: str, default: int | None, lo: int, hi: int, errors: dict[str, str], label: str
) -> Any:
    value = data.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        errors[key] = f"{label}应为 {lo} 到 {hi} 之间的整数"
    return value


def _time(data: dict[str, Any], key: str, label: str, errors: dict[str, str], required: bool = True) -> datetime | None:
    if data.get(key) is None and not required:
        return None
    try:
        return parse_time(data.get(key), label)
    except BadInput as exc:
        errors[key] = exc.message
        return None


def _sessions(raw: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_SESSIONS:
        errors["sessions"] = f"场次应为 1 到 {MAX_SESSIONS} 个"
        return []
    out: list[dict[str, Any]] = []
    for i, s in enumerate(raw, 1):
        where = f"sessions[{i - 1}]"
        if not isinstance(s, dict) or not isinstance(s.get("id"), str) or not ID_RE.match(s["id"]):
            errors[where] = f"第 {i} 个场次需要 id（1 到 32 位字母、数字、下划线或连字符）"
            continue
        if any(o["id"] == s["id"] for o in out):
            errors[where] = f"第 {i} 个场次的 id「{s['id']}」重复"
            continue
        problems: dict[str, str] = {}
        starts, ends = _time(s, "starts_at", "开始时间", problems), _time(s, "ends_at", "结束时间", problems)
        cap = _int(s, "capacity", None, 1, MAX_CAPACITY, problems, "名额")
        if cap is None:
            problems["capacity"] = f"名额应为 1 到 {MAX_CAPACITY} 之间的整数"
        if starts and ends and ends <= starts:
            problems["ends_at"] = "结束时间应晚于开始时间"
        title, place = s.get("title", ""), s.get("place", "")
        if not isinstance(title, str) or len(title) > 50 or not isinstance(place, str) or len(place) > 200:
            problems["title"] = "场次名称不超过 50 字，地点不超过 200 字"
        unknown = set(s) - {"id", "title", "starts_at", "ends_at", "place", "capacity"}
        if unknown:
            problems["fields"] = f"不认识的字段：{'、'.join(sorted(unknown))}"
        if problems:
            errors[where] = f"第 {i} 个场次：" + "；".join(problems.values())
            continue
        out.append(
            {"id": s["id"], "title": title, "starts_at": starts, "ends_at": ends, "place": place, "capacity": cap}
        )
    return sorted(out, key=lambda s: s["starts_at"])


def clean_definition(data: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A validated activity definition: `data` merged over `base` (the stored activity when editing)."""
    if not isinstance(data, dict):
        raise BadInput("活动定义应为 JSON 对象", code="invalid_definition")
    unknown = [k for k in data if k not in FIELDS]
    if unknown:
        raise InvalidDefinition({k: "不认识的字段，请删除" for k in unknown})
    m = {**(base or {}), **data}
    errors: dict[str, str] = {}
    out: dict[str, Any] = {"org": m.get("org")}
    for key, label, hi, required in (
        ("title", "标题", 100, True),
        ("description", "介绍", 5000, False),
        ("place", "地点", 200, False),
    ):
        value = m.get(key, "")
        if not isinstance(value, str) or len(value) > hi or (required and not value.strip()):
            errors[key] = f"{label}{'不能为空，且' if required else '应为文字，且'}不超过 {hi} 字"
        out[key] = value.strip() if isinstance(value, str) else ""
    out["members_only"] = m.get("members_only", False)
    if not isinstance(out["members_only"], bool):
        errors["members_only"] = "应为 true 或 false"
    out["sessions"] = _sessions(m.get("sessions"), errors)
    out["signup_opens_at"] = _time(m, "signup_opens_at", "报名开始时间", errors, required=False)
    out["signup_deadline"] = _time(m, "signup_deadline", "报名截止时间", errors)
    first = out["sessions"][0]["starts_at"] if out["sessions"] else None
    out["cancel_deadline"] = _time(m, "cancel_deadline", "取消截止时间", errors, required=False) or first
    if out["signup_deadline"] and out["signup_opens_at"] and out["signup_opens_at"] >= out["signup_deadline"]:
        errors["signup_opens_at"] = "报名开始时间应早于报名截止时间"
    if out["signup_deadline"] and out["sessions"] and out["signup_deadline"] > out["sessions"][-1]["starts_at"]:
        errors["signup_deadline"] = "报名截止时间不能晚于最后一个场次的开始时间"
    out["per_user_limit"] = _int(m, "per_user_limit", 1, 1, max(1, len(out["sessions"])), errors, "每人可报场次数")
    wl = m.get("waitlist", {"enabled": True, "limit": None})
    if not isinstance(wl, dict) or not isinstance(wl.get("enabled", True), bool) or set(wl) - {"enabled", "limit"}:
        errors["waitlist"] = '候补设置应为 {"enabled": true/false, "limit": 人数或 null}'
        wl = {}
    limit = wl.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_CAPACITY):
        errors["waitlist"] = f"候补人数上限应为 0 到 {MAX_CAPACITY} 的整数，或 null 表示不限"
    out["waitlist"] = {"enabled": wl.get("enabled", True), "limit": limit}
    out["remind_minutes_before"] = _int(m, "remind_minutes_before", 120, 0, 7 * 24 * 60, errors, "提前提醒分钟数")
    out["checkin_minutes_before"] = _int(m, "checkin_minutes_before", 60, 0, 24 * 60, errors, "提前签到分钟数")
    try:
        out["form"] = normalize_questions(m.get("form", []), types=FORM_TYPES, allow_empty=True)
    except InvalidDefinition as exc:
        errors.update({f"form.{k}": v for k, v in exc.errors.items()})
    if errors:
        raise InvalidDefinition(errors)
    out["first_starts_at"] = first
    out["last_ends_at"] = max(s["ends_at"] for s in out["sessions"])
    return out


async def create_activity(
    deps: Deps, data: dict[str, Any], *, editor_org: str | None, created_by: str = ""
) -> dict[str, Any]:
    clean = clean_definition(data)
    clean["org_path"] = await check_scope(deps, clean["org"], editor_org, "活动")
    at = now()
    doc = {"_id": "ac" + secrets.token_hex(6), **clean, "status": "draft", "created_at": at, "updated_at": at}
    doc["created_by"] = created_by
    await repo.insert(deps.db, doc)
    return doc


async def _owned(deps: Deps, activity_id: str, editor_org: str | None) -> dict[str, Any]:
    doc = await repo.get(deps.db, activity_id)
    if doc is None:
        raise NotFound("活动不存在或已删除", code="activity_not_found")
    await check_scope(deps, doc["org"], editor_org, "活动")
    return doc


async def update_activity(
    deps: Deps, activity_id: str, data: dict[str, Any], *, editor_org: str | None
) -> dict[str, Any]:
    """Edit a draft freely; once published the org, members-only flag and form are fixed and sessions may
    be added or changed but not removed (cancel the activity instead)."""
    doc = await _owned(deps, activity_id, editor_org)
    if doc["status"] == "cancelled":
        raise Conflict("活动已取消，不能再修改", code="activity_cancelled")
    clean = clean_definition(data, base={k: v for k, v in doc.items() if k in FIELDS})
    if doc["status"] == "published":
        if LOCKED_AFTER_PUBLISH & set(data):
            raise Conflict("活动已发布，所属组织、是否仅限会员和报名表不能再修改", code="activity_locked")
        missing = {s["id"] for s in doc["sessions"]} - {s["id"] for s in clean["sessions"]}
        if missing:
            raise Conflict(f"活动已发布，场次不能删除（{'、'.join(sorted(missing))}）", code="activity_locked")
        await signups.check_capacities(deps, doc["_id"], clean)
    changes = {k: clean[k] for k in FIELDS}
    changes |= {"first_starts_at": clean["first_starts_at"], "last_ends_at": clean["last_ends_at"], "updated_at": now()}
    if "org" in data and clean["org"] != doc["org"]:
        changes["org_path"] = await check_scope(deps, clean["org"], editor_org, "活动")
    updated = await repo.update(deps.db, activity_id, changes, expect_status=[doc["status"]])
    if updated is None:
        raise Conflict("活动状态刚刚发生了变化，请刷新后重试", code="activity_changed")
    await signups.sync_gate(deps, updated)  # a new deadline or opening time holds in the script at once
    await changed(deps, signups.CACHE, activity_id)
    if updated["status"] == "published":
        await signups.apply_config(deps, updated)
        await _reschedule_reminders(deps, doc, updated)
    return updated


async def _reschedule_reminders(deps: Deps, before: dict[str, Any], after: dict[str, Any]) -> None:
    """A moved session (or a new lead time) moves its pending reminders. Sign-ups not yet flushed keep
    the time computed when they were made (a window of a fraction of a second)."""
    old = {s["id"]: s["starts_at"] for s in before["sessions"]}
    lead = timedelta(minutes=after["remind_minutes_before"])
    for s in after["sessions"]:
        if s["id"] in old and (
            old[s["id"]] != s["starts_at"] or before["remind_minutes_before"] != after["remind_minutes_before"]
        ):
            remind_at = s["starts_at"] - lead if after["remind_minutes_before"] else None
            await signups_repo.reschedule_reminders(deps.db, after["_id"], s["id"], remind_at)


async def publish_activity(deps: Deps, activity_id: str, *, editor_org: str | None) -> dict[str, Any]:
    doc = await _owned(deps, activity_id, editor_org)
    if doc["status"] == "published":
        return doc
    if doc["signup_deadline"] <= now():
        raise Conflict("报名截止时间已过，请先修改后再发布", code="activity_expired")
    updated = await repo.update(
        deps.db, activity_id, {"status": "published", "published_at": now()}, expect_status=["draft"]
    )
    if updated is None:
        raise Conflict("只有草稿状态的活动可以发布", code="activity_not_draft")
    await signups.sync_gate(deps, updated)
    await changed(deps, signups.CACHE, activity_id)
    return updated


async def cancel_activity(deps: Deps, activity_id: str, *, editor_org: str | None) -> dict[str, Any]:
    """Call the whole activity off: no more sign-ups or check-ins; existing sign-ups stay on record."""
    await _owned(deps, activity_id, editor_org)
    updated = await repo.update(
        deps.db, activity_id, {"status": "cancelled", "cancelled_at": now()}, expect_status=["published", "draft"]
    )
    if updated is None:
        raise Conflict("活动已取消", code="activity_cancelled")
    await signups.sync_gate(deps, updated)  # from here no script accepts a sign-up, on any instance
    await changed(deps, signups.CACHE, activity_id)
    await signups.wait_for_sends(deps, activity_id)  # and no confirmation leaves after we answer
    return updated


async def delete_activity(deps: Deps, activity_id: str, *, editor_org: str | None) -> None:
    await _owned(deps, activity_id, editor_org)
    if not await repo.delete_draft(deps.db, activity_id):
        raise Conflict("已发布的活动不能删除，可以取消活动", code="activity_not_draft")
    await changed(deps, signups.CACHE, activity_id)


async def list_activities(deps: Deps, *, editor_org: str, limit: int = 200) -> list[dict[str, Any]]:
    return await repo.list_managed(deps.db, visibility.editor_filter(editor_org), limit)
