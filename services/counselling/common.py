"""Small pieces the counselling use cases share: keys, pseudonyms, month keys, status names."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.clock import TZ, localize
from core.deps import Deps, Slot
from core.errors import Forbidden
from services.counselling.privacy import Keys
from services.editors.scope import Scope
from services.members.sessions import CurrentUser

MONTHLY_LIMIT = 4
CANCEL_NOTICE = timedelta(hours=4)
NO_SHOWS_FOR_APPROVAL = 2
PURGE_AFTER = timedelta(days=180)
STATUS_TEXT = {
    "held": "已保留，待确认",
    "pending_approval": "待咨询师确认",
    "confirmed": "已预约",
    "attended": "已完成",
    "no_show": "未到",
    "cancelled": "已取消",
    "late_cancelled": "已取消（不足 4 小时）",
    "rejected": "未获确认",
    "released": "已放弃",
    "expired": "保留已过期",
}


KEYS = Slot[Keys]("counselling.keys")


def keys(deps: Deps) -> Keys:
    """Derived once per process from the configured secret."""
    return deps.get_or_make(KEYS, lambda: Keys.from_settings(deps.settings))


def member_of(deps: Deps, user: CurrentUser) -> str:
    """The keyed pseudonym of the calling worker: bookings need a bound union membership."""
    if not user.is_member or not user.org_path:
        raise Forbidden("请先绑定工会会员身份，再预约心理咨询", code="members_only")
    return keys(deps).pseudonym("member", user.member_id)


def month_key(at: datetime) -> str:
    return localize(at).strftime("%Y-%m")


def month_end(at: datetime) -> datetime:
    local = localize(at)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def iso(at: Any) -> str | None:
    return localize(at).isoformat() if isinstance(at, datetime) else None


def worker_view(doc: dict[str, Any], counsellor_name: str = "") -> dict[str, Any]:
    """A booking as its worker sees it (never the sealed contact, never the pseudonym)."""
    return {
        "id": doc["_id"],
        "slot_id": doc["slot_id"],
        "counsellor": doc["counsellor"],
        "counsellor_name": counsellor_name or doc.get("counsellor_name") or "",
        "starts_at": iso(doc["starts_at"]),
        "ends_at": iso(doc["ends_at"]),
        "status": doc["status"],
        "status_text": STATUS_TEXT.get(doc["status"], doc["status"]),
        "hold_expires_at": iso(doc.get("hold_expires")) if doc["status"] == "held" else None,
        "topic": doc.get("topic", ""),
        "urgent": bool(doc.get("urgent")),
        "contact_kind": doc.get("contact_kind", ""),
    }


def now_in_tz() -> datetime:
    from core.clock import now

    return now().astimezone(TZ)


def require_counsellor(scope: Scope) -> str:
    if scope.editor.role != "counsellor":
        raise Forbidden("只有心理咨询师本人可以查看和处理咨询预约", code="counsellor_only")
    return scope.editor.username
