"""Workers' view of activities (报名活动): the visible list and one activity with its places left."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.clock import localize, now
from core.deps import Deps
from services.activities import signups
from services.activities import store as repo
from services.members.sessions import CurrentUser
from services.orgs import visibility
from services.surveys.questions import parse_time

PHASE_TEXT = {
    "not_open": "报名未开始",
    "open": "报名中",
    "signup_closed": "报名已截止",
    "ended": "已结束",
    "cancelled": "已取消",
}


def phase(doc: dict[str, Any], at: datetime) -> str:
    if doc["status"] == "cancelled":
        return "cancelled"
    if at >= doc["last_ends_at"]:
        return "ended"
    if doc.get("signup_opens_at") and at < doc["signup_opens_at"]:
        return "not_open"
    return "signup_closed" if at > doc["signup_deadline"] else "open"


def _iso(at: datetime | None) -> str | None:
    return localize(at).isoformat() if at else None


def summary(doc: dict[str, Any], at: datetime) -> dict[str, Any]:
    p = phase(doc, at)
    return {
        "id": doc["_id"],
        "title": doc["title"],
        "org": doc["org"],
        "place": doc.get("place", ""),
        "members_only": bool(doc.get("members_only")),
        "starts_at": _iso(doc["first_starts_at"]),
        "ends_at": _iso(doc["last_ends_at"]),
        "signup_opens_at": _iso(doc.get("signup_opens_at")),
        "signup_deadline": _iso(doc["signup_deadline"]),
        "cancel_deadline": _iso(doc["cancel_deadline"]),
        "phase": p,
        "phase_text": PHASE_TEXT[p],
        "session_count": len(doc["sessions"]),
    }


async def list_visible(deps: Deps, user: CurrentUser, *, before: str | None = None, limit: int = 20) -> dict[str, Any]:
    """Published activities of the user's org and its ancestors, latest first."""
    cursor = parse_time(before, "翻页参数 before") if before is not None else None
    limit = max(1, min(limit, 50))
    docs = await repo.list_published(deps.db, visibility.visible_filter(user), limit=limit, before=cursor)
    at = now()
    items = [summary(d, at) for d in docs]
    return {"items": items, "next": items[-1]["starts_at"] if len(docs) == limit else None}


async def detail(deps: Deps, user: CurrentUser, activity_id: str) -> dict[str, Any]:
    """The activity with its form, each session's places left and waitlist length, and the user's sign-ups."""
    doc = await signups.visible_activity(deps, user, activity_id)
    await signups.ensure_state(deps, doc)
    st = signups.state(deps)
    numbers = await st.session_numbers(activity_id, [s["id"] for s in doc["sessions"]])
    out = summary(doc, now())
    out["description"] = doc.get("description", "")
    out["form"] = doc["form"]
    out["per_user_limit"] = doc["per_user_limit"]
    out["waitlist_enabled"] = doc["waitlist"]["enabled"]
    out["sessions"] = [
        signups.session_out(s, doc)
        | {
            "capacity": s["capacity"],
            "confirmed": numbers[s["id"]][0],
            "remaining": max(0, s["capacity"] - numbers[s["id"]][0]),
            "waitlisted": numbers[s["id"]][1],
        }
        for s in doc["sessions"]
    ]
    mine = await st.user_active(activity_id, user.openid)
    rows = await st.get_many(list(mine.values()))
    out["my_signups"] = [
        signups.signup_out(s, doc, await st.waitlist_position(s["id"], s["sid"]) if s["status"] == "waitlisted" else 0)
        for s in rows.values()
    ]
    return out
