"""Voting, as a worker in the mini-program does it: visible polls, a poll with live counts, casting.

Casting is one Redis round trip (services.polls.live's script decides and queues atomically); MongoDB is
read only when Redis does not know the poll yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.clock import TZ, now
from core.deps import Deps
from core.errors import BadInput, Conflict, Forbidden, NotFound, TooMany, Unavailable
from services.members.sessions import CurrentUser
from services.orgs import visibility
from services.polls import ballots_store as ballots
from services.polls import definitions as polls
from services.polls import store

CURSOR = re.compile(r"^(\d{1,13})\.([0-9a-f]{12})$")
HIDDEN = "投票不存在或不在您所属工会的范围内"


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(TZ).isoformat(timespec="seconds") if dt else None


def state_of(poll: dict[str, Any], at: datetime) -> str:
    if poll["status"] == "closed" or at >= poll["closes_at"]:
        return "ended"
    if at < poll["opens_at"]:
        return "upcoming"
    return "open"


def _summary(poll: dict[str, Any], counts: dict[str, int] | None, at: datetime) -> dict[str, Any]:
    counts = counts or {}
    return {
        "id": poll["_id"],
        "title": poll["title"],
        "cover_url": poll.get("cover_url", ""),
        "org": poll["org"],
        "opens_at": _iso(poll["opens_at"]),
        "closes_at": _iso(poll["closes_at"]),
        "state": state_of(poll, at),
        "members_only": bool(poll.get("members_only")),
        "total_ballots": counts.get("_ballots", 0),
        "voters": counts.get("_voters", 0),
    }


async def list_polls(
    deps: Deps, user: CurrentUser, *, state: str = "all", cursor: str = "", limit: int = 20
) -> dict[str, Any]:
    before = None
    if cursor:
        m = CURSOR.match(cursor)
        try:
            before = (datetime.fromtimestamp(int(m.group(1)) / 1000, TZ), m.group(2)) if m else None
        except (ValueError, OverflowError, OSError):
            before = None
        if before is None:
            raise BadInput("分页参数 cursor 无效，请从第一页重新加载", code="invalid_cursor")
    at = now()
    rows = await store.list_visible(
        deps.db, visibility.visible_filter(user), limit=limit, before=before, at=at, state=state
    )
    counts = await polls.live(deps).many_counts([p["_id"] for p in rows])
    items = [_summary(p, c, at) for p, c in zip(rows, counts, strict=True)]
    next_cursor = None
    if len(rows) == limit:
        last = rows[-1]
        next_cursor = f"{int(last['opens_at'].timestamp() * 1000)}.{last['_id']}"
    return {"items": items, "next_cursor": next_cursor}


async def _visible_poll(deps: Deps, user: CurrentUser, poll_id: str) -> dict[str, Any]:
    poll = await store.get(deps.db, poll_id) if polls.POLL_ID.match(poll_id) else None
    if poll is None or poll["status"] == "draft":
        raise NotFound(HIDDEN, code="poll_not_found")
    visibility.check_visible(user, poll["org"], "投票")
    return poll


async def detail(deps: Deps, user: CurrentUser, poll_id: str) -> dict[str, Any]:
    poll = await _visible_poll(deps, user, poll_id)
    counts = await polls.results_live(deps, poll)
    at = now()
    day = at.strftime("%Y%m%d")
    used = await polls.live(deps).used(poll_id, user.openid, day, poll["limit"]["per"])
    ranks = {r["id"]: r["rank"] for r in polls.ranking(poll, counts)}
    state = state_of(poll, at)
    reason = ""
    if state != "open":
        reason = "投票尚未开始" if state == "upcoming" else "投票已结束"
    elif poll.get("members_only") and not user.is_member:
        reason = "仅限工会会员参与，请先绑定会员"
    elif used >= poll["limit"]["count"]:
        reason = "今天的投票次数已用完" if poll["limit"]["per"] == "day" else "您已投过票"
    return {
        **_summary(poll, counts, at),
        "description": poll.get("description", ""),
        "multiple": poll["multiple"],
        "max_choices": poll["max_choices"],
        "limit": poll["limit"],
        "options": [
            {
                "id": o["id"],
                "title": o["title"],
                "description": o.get("description", ""),
                "image_url": o.get("image_url", ""),
                "count": counts.get(o["id"], 0),
                "rank": ranks[o["id"]],
            }
            for o in poll["options"]
        ],
        "my": {
            "used": used,
            "remaining": max(0, poll["limit"]["count"] - used),
            "can_vote": not reason,
            "reason": reason,
        },
    }


def _refusal(outcome: str, detail: list[str]) -> Exception:
    if outcome == "hidden":
        return NotFound(HIDDEN, code="poll_not_found")
    if outcome == "closed":
        return Conflict("投票已结束，感谢关注", code="poll_closed")
    if outcome == "early":
        opens = datetime.fromtimestamp(int(detail[0]) / 1000, TZ)
        return Conflict(f"投票尚未开始，开始时间：{opens:%m月%d日 %H:%M}", code="poll_not_started")
    if outcome == "members":
        return Forbidden("本投票仅限工会会员参与，请先在“我的”页面绑定会员信息", code="members_only")
    if outcome == "toomany":
        return BadInput(f"最多只能选 {detail[0]} 项", code="too_many_options")
    if outcome == "badopt":
        return BadInput("所选选项不存在，请刷新页面后重新选择", code="invalid_option")
    if outcome == "limit":
        count, per = detail
        if per == "day":
            return Conflict(f"您今天的 {count} 次投票机会已用完，明天再来吧", code="ballot_limit")
        return Conflict(
            "您已经投过票了" if count == "1" else f"每人最多投 {count} 次，您的次数已用完", code="ballot_limit"
        )
    if outcome == "reused":
        message = "该请求编号（Idempotency-Key）已用于另一次投票，请换一个新的编号再提交"
        return Conflict(message, code="idempotency_key_reused")
    if outcome == "rate":
        err = TooMany("投票太频繁，请稍后再试", code="rate_limited")
        err.headers = {"Retry-After": "60"}  # type: ignore[attr-defined]
        return err
    return Unavailable("投票暂时无法提交，请稍后重试", code="vote_unavailable")


@dataclass(frozen=True, slots=True)
class Cast:
    ballot_id: str
    remaining: int
    replayed: bool  # the answer to an earlier request with the same idempotency key: nothing cast now

    def answer(self) -> dict[str, Any]:
        return {"ballot_id": self.ballot_id, "remaining": self.remaining}


async def cast(
    deps: Deps, user: CurrentUser, poll_id: str, options: list[str], ip: str, idempotency_key: str = ""
) -> Cast:
    """Cast one ballot: its id and how many ballots the user has left (today or in the poll).

    With an idempotency key, a repeat of the same request within 15 minutes (a client retrying after
    a lost answer) gets the first answer and casts nothing; the same key with other options is refused.
    """
    if not polls.POLL_ID.match(poll_id):
        raise NotFound(HIDDEN, code="poll_not_found")
    if not options:
        raise BadInput("请至少选择 1 项", code="no_option")
    state = polls.live(deps)
    for _ in range(3):
        at = now()
        result = await state.cast(
            poll_id, user.openid, options, now_ms=int(at.timestamp() * 1000), day=at.strftime("%Y%m%d"),
            org_path=tuple(visibility.scope(user)), is_member=user.is_member, ip=ip, idempotency_key=idempotency_key,
        )  # fmt: skip
        if result.outcome in ("ok", "replay"):
            return Cast(result.detail[0], int(result.detail[1]), replayed=result.outcome == "replay")
        if result.outcome in ("nometa", "nocounts"):
            if not await polls.recover(deps, poll_id):
                raise NotFound(HIDDEN, code="poll_not_found")
        else:
            raise _refusal(result.outcome, result.detail)
    raise Unavailable("投票统计正在恢复，请稍后重试", code="counts_rebuilding")


async def my_ballots(deps: Deps, user: CurrentUser, poll_id: str) -> dict[str, Any]:
    poll = await _visible_poll(deps, user, poll_id)
    day = now().strftime("%Y%m%d")
    used = await polls.live(deps).used(poll_id, user.openid, day, poll["limit"]["per"])
    stored = await ballots.mine(deps.db, poll_id, user.openid)
    items = [{"id": b["_id"], "options": b["options"], "at": _iso(b["at"])} for b in stored]
    return {"items": items, "used": used, "remaining": max(0, poll["limit"]["count"] - used)}
