"""Activity sign-up (报名): decided in Redis, one Lua call per sign-up, flushed to MongoDB in batches.

- Capacity, waitlist order, the per-user limit and "one active sign-up per session" are one atomic
  script (services.activities.signup_lua.SIGN_UP); cancelling promotes the first waitlisted in the same script.
- Ids are `<activity>-<seq>`, `seq` the server's arrival order, so MongoDB writes are idempotent.
- When Redis has no state for an activity (first use, expiry, or a lost Redis) it is rebuilt from
  MongoDB under a lock, after flushing whatever of the activity Redis still held unflushed.
- Whether sign-ups are open (status, opening time, deadline) is decided in the script too, from the
  activity's gate in Redis, which every editor's change rewrites before it answers: a cancel on one
  instance holds on every other at once, whatever their caches still say. Messages about the activity
  (confirmations, reminders) pass the same gate and a cancel waits for those in flight, so none
  goes out after the cancel has answered.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from core.clock import from_timestamp, localize, now
from core.deps import Deps
from core.errors import BadInput, Conflict, Forbidden, NotFound, TooMany, Unavailable
from services.activities import signups_store as signups_repo
from services.activities import store as repo
from services.activities.flusher import flush_activity
from services.activities.flusher import state as state  # re-exported: callers use signups.state(deps)
from services.activities.live import RATE_WINDOW, Decision, gate_value, split_id
from services.members.sessions import CurrentUser
from services.orgs import visibility
from services.surveys.questions import check_answers
from storage.item_cache import cache_for
from storage.ratelimit import retry_after

log = logging.getLogger(__name__)
CACHE = "activities.cache"
STATE_RETENTION = timedelta(days=30)  # live state stays in Redis this long after the last session ends
STATUS_TEXT = {"confirmed": "报名成功", "waitlisted": "候补中", "cancelled": "已取消"}


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def fmt(at: datetime) -> str:
    return localize(at).strftime("%m月%d日 %H:%M")


async def activity(deps: Deps, activity_id: str) -> dict[str, Any] | None:
    return await cache_for(deps, CACHE).get(activity_id, lambda aid: repo.get(deps.db, aid))


def meta_for(doc: dict[str, Any]) -> dict[str, Any]:
    wl = doc["waitlist"]
    return {
        "caps": {s["id"]: s["capacity"] for s in doc["sessions"]},
        "wl": "1" if wl["enabled"] else "0",
        "wl_limit": -1 if wl["limit"] is None else wl["limit"],
        "per_user": doc["per_user_limit"],
        "exp": int((doc["last_ends_at"] + STATE_RETENTION).timestamp()),
    }


def gate_for(doc: dict[str, Any]) -> str:
    """The activity's gate as the sign-up script reads it (status, window, revision of the document)."""
    opens = doc.get("signup_opens_at")
    return gate_value(doc["status"], ms(opens) if opens else None, ms(doc["signup_deadline"]), int(doc.get("rev") or 0))


async def sync_gate(deps: Deps, doc: dict[str, Any]) -> None:
    """After an editor's change is in MongoDB: the scripts decide by it from now on, on every instance."""
    await state(deps).set_gate(doc["_id"], gate_for(doc), meta_for(doc)["exp"])


async def wait_for_sends(deps: Deps, activity_id: str) -> None:
    """Until no message about the activity is on its way (each passed the gate before it changed)."""
    limit = deps.settings.wechat.timeout_seconds + 2.0  # a send in flight ends by its timeout
    for _ in range(int(limit / 0.02)):
        if not await state(deps).sends_in_flight(activity_id):
            return
        await asyncio.sleep(0.02)
    log.warning("activity %s: messages still in flight after %.0fs; answering anyway", activity_id, limit)


async def ensure_state(deps: Deps, doc: dict[str, Any]) -> None:
    """Make sure Redis holds the activity's state, rebuilding it from MongoDB when it does not."""
    st, aid = state(deps), doc["_id"]
    if await st.has_state(aid):
        return
    token = secrets.token_hex(8)
    if await st.lock(f"rebuild:{aid}", token, 60_000):
        try:
            if await st.has_state(aid):
                return
            # A partial loss (or an older release's keys): write what Redis still has before reading back.
            await flush_activity(deps, aid)
            doc = await repo.get(deps.db, aid) or doc  # not a cached copy: the gate must be current
            docs = await signups_repo.for_activity(deps.db, aid)
            states = [signups_repo.state_from_doc(d) for d in docs]
            await sync_gate(deps, doc)
            await st.install(aid, meta_for(doc), states, max((d["seq"] for d in docs), default=0))
            if docs:
                log.warning("rebuilt sign-up state of %s from MongoDB (%d sign-ups)", aid, len(docs))
        finally:
            await st.unlock(f"rebuild:{aid}", token)
        return
    for _ in range(200):  # another instance is rebuilding it
        await asyncio.sleep(0.05)
        if await st.has_state(aid):
            return
    raise Unavailable("报名人数较多，请稍后重试", code="busy")


async def apply_config(deps: Deps, doc: dict[str, Any]) -> None:
    """Push edited capacities and rules into live state (promoting waitlisted users into new places)."""
    if not await state(deps).has_state(doc["_id"]):
        return  # built from the new definition on first use
    result = await state(deps).configure(doc["_id"], meta_for(doc), ms(now()))
    if result.outcome == "below":
        log.warning("capacity of %s/%s below %s confirmed; kept the old one", doc["_id"], *result.values)


async def check_capacities(deps: Deps, activity_id: str, clean: dict[str, Any]) -> None:
    if not await state(deps).has_state(activity_id):
        await ensure_state(deps, {**clean, "_id": activity_id})
    numbers = await state(deps).session_numbers(activity_id, [s["id"] for s in clean["sessions"]])
    for s in clean["sessions"]:
        confirmed = numbers[s["id"]][0]
        if s["capacity"] < confirmed:
            raise Conflict(
                f"场次「{s['title'] or s['id']}」已有 {confirmed} 人报名成功，名额不能少于 {confirmed}",
                code="capacity_below_confirmed",
            )


def session_of(doc: dict[str, Any], session_id: Any) -> dict[str, Any]:
    for s in doc["sessions"]:
        if s["id"] == session_id:
            return s  # type: ignore[no-any-return]
    raise NotFound("该场次不存在，请刷新活动后重新选择", code="session_not_found")


async def visible_activity(deps: Deps, user: CurrentUser, activity_id: str) -> dict[str, Any]:
    doc = await activity(deps, activity_id)
    if doc is None or doc["status"] == "draft":
        raise NotFound("活动不存在或已删除", code="activity_not_found")
    visibility.check_visible(user, doc["org"], "活动")
    return doc


def check_signup_window(doc: dict[str, Any], at: datetime) -> None:
    if doc["status"] == "cancelled":
        raise Conflict("活动已取消", code="activity_cancelled")
    if doc.get("signup_opens_at") and at < doc["signup_opens_at"]:
        raise Conflict(f"报名尚未开始，{fmt(doc['signup_opens_at'])} 开始报名", code="signup_not_open")
    if at > doc["signup_deadline"]:
        raise Conflict(f"报名已截止（截止时间 {fmt(doc['signup_deadline'])}）", code="signup_closed")


def session_out(session: dict[str, Any], doc: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": session["id"],
        "title": session["title"],
        "place": session["place"] or (doc or {}).get("place", ""),
        "starts_at": localize(session["starts_at"]).isoformat(),
        "ends_at": localize(session["ends_at"]).isoformat(),
    }


def signup_out(s: dict[str, Any], doc: dict[str, Any] | None, position: int = 0) -> dict[str, Any]:
    session = next((x for x in doc["sessions"] if x["id"] == s["sid"]), None) if doc else None
    at = now()
    can_cancel = s["status"] == "waitlisted" or (
        s["status"] == "confirmed" and not s.get("checked_in_at") and doc is not None and at <= doc["cancel_deadline"]
    )
    return {
        "id": s["id"],
        "activity_id": s["aid"],
        "activity_title": doc["title"] if doc else "",
        "session": None if session is None else session_out(session, doc),
        "status": s["status"],
        "status_text": STATUS_TEXT.get(s["status"], s["status"]),
        "position": position or None,
        "form": s.get("form") or {},
        "created_at": from_timestamp(s["created_at"] / 1000).isoformat(),
        "checked_in_at": from_timestamp(s["checked_in_at"] / 1000).isoformat() if s.get("checked_in_at") else None,
        "can_cancel": bool(can_cancel) and (session is None or at < session["starts_at"]),
    }  # fmt: skip


async def _decide(deps: Deps, doc: dict[str, Any], call: Any) -> Decision:
    """Run a state script; rebuild the state from MongoDB once if Redis had none."""
    decision: Decision = await call()
    if decision.outcome == "nostate":
        await ensure_state(deps, doc)
        decision = await call()
    if decision.outcome == "nosession":  # a session added while the state lived
        await ensure_state(deps, doc)
        await apply_config(deps, doc)
        decision = await call()
    return decision


async def sign_up(
    deps: Deps, user: CurrentUser, activity_id: str, session_id: Any, form: Any
) -> tuple[dict[str, Any], bool]:
    """Sign the user up for one session: confirmed while places last, then waitlisted in arrival order.

    Returns (sign-up, created); signing up again for the same session returns the existing sign-up.
    """
    doc = await visible_activity(deps, user, activity_id)
    visibility.check_can_take_part(user, bool(doc.get("members_only")), "活动")
    at = now()
    check_signup_window(doc, at)
    session = session_of(doc, session_id)
    if at >= session["starts_at"]:
        raise Conflict("该场次已开始，不能再报名", code="session_started")
    answers = check_answers(doc["form"], form if form is not None else {})
    lead = doc["remind_minutes_before"]
    remind_at = session["starts_at"] - timedelta(minutes=lead) if lead else None
    remind_ms = ms(remind_at) if remind_at and remind_at > at else None
    st = state(deps)

    def call() -> Any:
        return st.sign_up(
            activity_id, session["id"], user.openid, ms(at), answers, remind_ms, user.member_id, user.org, user.unionid
        )

    d = await _decide(deps, doc, call)
    if d.outcome in ("confirmed", "waitlisted"):  # new: we know every field without reading it back
        fresh = {"id": d.values[0], "aid": activity_id, "sid": session["id"], "uid": user.openid}
        fresh |= {"status": d.outcome, "form": answers, "created_at": ms(at), "checked_in_at": None}
        return signup_out(fresh, doc, int(d.values[2])), True
    if d.outcome == "dup":
        signup = await st.get(d.values[0])
        if signup is None:  # expired between the two calls: practically impossible, but say so
            raise Unavailable("报名结果读取失败，请在“我的报名”中查看", code="busy")
        return signup_out(signup, doc, int(d.values[2])), False
    if d.outcome in ("gate", "early", "deadline"):  # this instance's copy was older than the gate
        raise _closed(d, doc)
    if d.outcome == "rate":
        wait = retry_after(RATE_WINDOW)
        err = TooMany(f"操作太频繁，请 {wait} 秒后再试", code="rate_limited")
        err.headers = {"Retry-After": str(wait)}  # type: ignore[attr-defined]  # the API base sends it
        raise err
    if d.outcome == "limit":
        raise Conflict(f"每人最多报名 {d.values[0]} 个场次，您已达到上限", code="signup_limit")
    if d.outcome == "full":
        raise Conflict("该场次名额已满", code="session_full")
    if d.outcome == "wlfull":
        raise Conflict("该场次名额已满，候补名单也已排满", code="waitlist_full")
    raise BadInput("该场次暂不可报名，请刷新后重试", code="session_unavailable")


def _closed(d: Decision, doc: dict[str, Any]) -> Exception:
    if d.outcome == "gate" and d.values and d.values[0] == "cancelled":
        return Conflict("活动已取消", code="activity_cancelled")
    if d.outcome == "gate":
        return NotFound("活动不存在或已删除", code="activity_not_found")
    if d.outcome == "early":
        return Conflict("报名尚未开始，请留意活动的报名时间", code="signup_not_open")
    return Conflict(f"报名已截止（截止时间 {fmt(doc['signup_deadline'])}）", code="signup_closed")


async def _own_signup(deps: Deps, user: CurrentUser, doc: dict[str, Any], signup_id: str) -> dict[str, Any]:
    st = state(deps)
    signup = await st.get(signup_id)
    if signup is None:
        await ensure_state(deps, doc)
        signup = await st.get(signup_id)
    if signup is None:
        raise NotFound("报名记录不存在", code="signup_not_found")
    if signup["uid"] != user.openid:
        raise Forbidden("这不是您的报名记录，无法操作", code="not_your_signup")
    return signup


async def cancel(deps: Deps, user: CurrentUser, activity_id: str, signup_id: str) -> dict[str, Any]:
    """Cancel the user's own sign-up; the first waitlisted user of the session takes the freed place."""
    doc = await activity(deps, activity_id)
    if doc is None or doc["status"] == "draft" or split_id(signup_id)[0] != activity_id:
        raise NotFound("报名记录不存在", code="signup_not_found")
    signup = await _own_signup(deps, user, doc, signup_id)
    if signup["status"] == "cancelled":
        return signup_out(signup, doc)
    if signup.get("checked_in_at"):
        raise Conflict("您已签到，不能取消报名", code="already_checked_in")
    at = now()
    session = session_of(doc, signup["sid"])
    if signup["status"] == "confirmed" and at > doc["cancel_deadline"]:
        raise Conflict(f"已过取消截止时间（{fmt(doc['cancel_deadline'])}），如需取消请联系主办方", code="cancel_closed")
    if at >= session["starts_at"]:
        raise Conflict("该场次已开始，不能取消报名", code="session_started")
    d = await _decide(deps, doc, lambda: state(deps).cancel(signup_id, signup["sid"], user.openid, ms(at)))
    if d.outcome == "checkedin":
        raise Conflict("您已签到，不能取消报名", code="already_checked_in")
    if d.outcome not in ("cancelled", "already"):
        raise NotFound("报名记录不存在", code="signup_not_found")
    fresh = await state(deps).get(signup_id)
    return signup_out(fresh or signup, doc)


async def my_signups(
    deps: Deps, user: CurrentUser, limit: int = 50, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The user's sign-ups, newest first, and the next page's cursor: Redis (live, not yet flushed)
    over MongoDB (older ones). The cursor is `<created ms>.<sign-up id>` of the last one shown."""
    limit = max(1, min(limit, 100))
    after = _signup_cursor(cursor)
    st = state(deps)
    before_ms = after[0] if after else None
    docs = await signups_repo.of_user(deps.db, user.openid, limit + 1, before_ms=before_ms)
    stored = {d["_id"]: signups_repo.state_from_doc(d) for d in docs}
    ids = list(dict.fromkeys([*await st.recent(user.openid), *stored]))
    live = await st.get_many(ids)
    rows = [live.get(i) or stored.get(i) for i in ids]
    mine = (r for r in rows if r and r["uid"] == user.openid and (after is None or (r["created_at"], r["id"]) < after))
    ordered = sorted(mine, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    merged, more = ordered[:limit], len(ordered) > limit
    out = []
    for s in merged:
        doc = await activity(deps, s["aid"])
        pos = await st.waitlist_position(s["id"], s["sid"]) if s["status"] == "waitlisted" else 0
        out.append(signup_out(s, doc, pos))
    next_cursor = f"{merged[-1]['created_at']}.{merged[-1]['id']}" if more and merged else None
    return out, next_cursor


def _signup_cursor(cursor: str | None) -> tuple[int, str] | None:
    if cursor is None:
        return None
    ms, sep, sid = cursor.partition(".")
    if not sep or not ms.isdigit() or not sid or len(cursor) > 120:
        raise BadInput("分页参数 cursor 无效，请从第一页重新加载", code="invalid_cursor")
    return int(ms), sid
