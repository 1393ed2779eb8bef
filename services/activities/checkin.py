"""Check-in (签到) at the venue, once per sign-up: from the official account or the mini-program.

(a) Official account: the worker scans the venue's parametric QR code (scene `checkin:<activity id>`);
    the bot calls `check_in_follower`, which finds their sign-up through unionid and returns the reply.
(b) Mini-program: the venue shows a QR code carrying a signed code `<activity>.<session>.<expires>.<sig>`
    (HMAC-SHA256 with server.cookie_secret, so a code cannot be forged); the user posts it.
The check-in itself is one Lua script (services.activities.signup_lua.CHECK_IN): a second scan finds it done.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.clock import from_timestamp, localize, now
from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound
from services.activities import signups
from services.followers import following
from services.members import binding
from services.members.sessions import CurrentUser


@dataclass(frozen=True)
class Attempt:
    outcome: str  # ok, already, waitlisted, not_signed_up, too_early, not_today, over, cancelled, unknown
    doc: dict[str, Any] | None = None
    session: dict[str, Any] | None = None
    at: datetime | None = None  # check-in time (ok, already) or when check-in opens (too_early, not_today)
    position: int = 0


def _window(doc: dict[str, Any], session: dict[str, Any]) -> tuple[datetime, datetime]:
    return session["starts_at"] - timedelta(minutes=doc["checkin_minutes_before"]), session["ends_at"]


def _pick(doc: dict[str, Any], rows: list[dict[str, Any]], at: datetime) -> dict[str, Any]:
    """Of a user's sign-ups, the one to check in now: open window first, then today, then the next."""
    sessions = {s["id"]: s for s in doc["sessions"]}

    def rank(s: dict[str, Any]) -> tuple[int, float]:
        opens, closes = _window(doc, sessions[s["sid"]])
        if opens <= at <= closes:
            return (0, 0.0)
        if localize(opens).date() == localize(at).date() and at < opens:
            return (1, (opens - at).total_seconds())
        return (2, (opens - at).total_seconds()) if at < opens else (3, (at - closes).total_seconds())

    return min(rows, key=rank)


async def attempt(deps: Deps, activity_id: str, openid: str, session_id: str | None, via: str) -> Attempt:
    doc = await signups.activity(deps, activity_id)
    if doc is None or doc["status"] == "draft":
        return Attempt("unknown")
    if doc["status"] == "cancelled":
        return Attempt("cancelled", doc)
    await signups.ensure_state(deps, doc)
    st = signups.state(deps)
    active = await st.user_active(activity_id, openid)
    if session_id is not None:
        active = {k: v for k, v in active.items() if k == session_id}
    rows = [
        r for r in (await st.get_many(list(active.values()))).values() if r["sid"] in {s["id"] for s in doc["sessions"]}
    ]
    if not rows:
        return Attempt("not_signed_up", doc)
    at = now()
    signup = _pick(doc, rows, at)
    session = signups.session_of(doc, signup["sid"])
    if signup.get("checked_in_at"):
        return Attempt("already", doc, session, from_timestamp(signup["checked_in_at"] / 1000))
    if signup["status"] == "waitlisted":
        return Attempt("waitlisted", doc, session, position=await st.waitlist_position(signup["id"], signup["sid"]))
    opens, closes = _window(doc, session)
    if at > closes:
        return Attempt("over", doc, session)
    if at < opens:
        same_day = localize(opens).date() == localize(at).date()
        return Attempt("too_early" if same_day else "not_today", doc, session, opens)
    d = await st.check_in(signup["id"], signup["sid"], openid, signups.ms(at), via)
    if d.outcome == "activity_cancelled":  # cancelled on another instance a moment ago
        return Attempt("cancelled", doc)
    if d.outcome == "ok":
        return Attempt("ok", doc, session, at)
    if d.outcome == "already":
        return Attempt("already", doc, session, from_timestamp(int(d.values[0]) / 1000))
    return Attempt("waitlisted" if d.outcome == "waitlisted" else "not_signed_up", doc, session)


def _title(a: Attempt) -> str:
    return f"「{a.doc['title']}」" if a.doc else ""


def _where(a: Attempt) -> str:
    if not a.session or not a.doc:
        return ""
    place = a.session["place"] or a.doc.get("place", "")
    return f"{signups.fmt(a.session['starts_at'])}" + (f"，地点：{place}" if place else "")


def reply_text(a: Attempt) -> str:
    """What the worker reads after scanning (also the mini-program's error messages)."""
    t = _title(a)
    texts = {
        "unknown": "未找到该活动，请确认扫描的是现场的签到二维码。",
        "cancelled": f"活动{t}已取消，无需签到。",
        "not_signed_up": f"您尚未报名活动{t}，无法签到。请先在“齐鲁工惠”小程序中报名。",
        "waitlisted": f"您在活动{t}的候补名单中（第 {a.position} 位），候补转为报名成功后才能签到。",
        "already": f"您已于 {a.at.strftime('%m月%d日 %H:%M') if a.at else ''} 签到活动{t}，无需重复签到。",
        "over": f"活动{t}本场已结束，签到已关闭。",
        "too_early": f"活动{t}的签到将于今天 {a.at.strftime('%H:%M') if a.at else ''} 开始，请稍后再扫码。",
        "not_today": f"活动{t}不在今天举行，签到从 {signups.fmt(a.at) if a.at else ''} 开始。",
        "ok": f"签到成功！活动{t}，{_where(a)}。欢迎参加！",
    }
    return texts[a.outcome]


async def check_in_follower(deps: Deps, activity_id: str, oa_openid: str) -> str:
    """The official account's check-in (QR scene `checkin:<activity id>`): returns the Chinese reply."""
    unionid = await following.unionid_of(deps.db, oa_openid)
    openid = await binding.mini_openid_of_follower(deps, oa_openid, unionid)
    if openid is None:
        if await signups.activity(deps, activity_id) is None:
            return reply_text(Attempt("unknown"))
        return "请先用同一微信号登录“齐鲁工惠”小程序并完成报名，再扫码签到。"
    return reply_text(await attempt(deps, activity_id, openid, None, "oa"))


# --- signed codes for the mini-program ---------------------------------------------------------
def _sig(deps: Deps, payload: str) -> str:
    mac = hmac.new(deps.settings.server.cookie_secret.encode(), f"checkin|{payload}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode()


def checkin_code(deps: Deps, activity_id: str, session_id: str, expires_at: datetime | None = None) -> str:
    """The code a venue QR shows; with `expires_at` it can be rotated (a photo sent home soon goes stale)."""
    payload = f"{activity_id}.{session_id}.{int(expires_at.timestamp()) if expires_at else 0}"
    return f"{payload}.{_sig(deps, payload)}"


def verify_code(deps: Deps, code: Any) -> tuple[str, str, int]:
    parts = code.split(".") if isinstance(code, str) and len(code) <= 200 else []
    if len(parts) != 4 or not parts[2].isdigit():
        raise BadInput("签到码无效，请扫描活动现场的签到二维码", code="invalid_checkin_code")
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(_sig(deps, payload), parts[3]):
        raise BadInput("签到码无效，请扫描活动现场的签到二维码", code="invalid_checkin_code")
    return parts[0], parts[1], int(parts[2])


ERRORS = {
    "unknown": (NotFound, "activity_not_found"),
    "cancelled": (Conflict, "activity_cancelled"),
    "not_signed_up": (Conflict, "not_signed_up"),
    "waitlisted": (Conflict, "waitlisted"),
    "over": (Conflict, "checkin_closed"),
    "too_early": (Conflict, "checkin_not_open"),
    "not_today": (Conflict, "checkin_not_open"),
}


async def check_in_code(deps: Deps, user: CurrentUser, activity_id: str, code: Any) -> dict[str, Any]:
    """The mini-program's check-in with a venue code; repeating it answers `already` (not an error)."""
    aid, session_id, expires = verify_code(deps, code)
    if aid != activity_id:
        raise BadInput("这个签到码不属于该活动，请扫描本活动现场的二维码", code="invalid_checkin_code")
    if expires and now().timestamp() > expires:
        raise Conflict("签到码已过期，请扫描现场最新的签到二维码", code="checkin_code_expired")
    a = await attempt(deps, activity_id, user.openid, session_id, "mp")
    if a.outcome in ERRORS:
        cls, code_name = ERRORS[a.outcome]
        raise cls(reply_text(a), code=code_name)
    return {
        "status": "checked_in" if a.outcome == "ok" else "already_checked_in",
        "message": reply_text(a),
        "checked_in_at": a.at.isoformat() if a.at else None,
        "session": signups.session_out(a.session, a.doc) if a.session else None,
    }
