"""Workers and draw-mode lotteries: enter once per roster member, see my 抽签码, my proof, my result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.clock import now as clock_now
from core.deps import Deps
from core.errors import Conflict, Forbidden, NotFound, Unavailable
from services.lotteries import draw, frozen, live, store
from services.lotteries.views import PUBLIC_STATES, ms, public_view
from services.members.sessions import CurrentUser
from services.orgs import visibility

BIND_PAGE = "pages/member/bind"
NOT_BOUND = f"抽奖仅限已绑定的工会会员参加，请先绑定会员信息（小程序“我的-会员绑定”：{BIND_PAGE}）"


def require_member(user: CurrentUser) -> None:
    if not user.is_member:
        raise Forbidden(NOT_BOUND, code="not_member")


async def load_visible(deps: Deps, user: CurrentUser, lottery_id: str) -> dict[str, Any]:
    doc = await store.get(deps.db, lottery_id)
    if doc is None or not visibility.is_visible(user, doc["org"]):
        raise NotFound("抽奖不存在或您无权查看", code="not_found")
    return doc


async def ensure_live(deps: Deps, doc: dict[str, Any]) -> None:
    """Redis lost the lottery: reload it from MongoDB, which holds every acknowledged entry."""
    pairs = [p async for p in store.member_codes(deps.db, doc["_id"])]
    await live.rebuild_entries(deps, doc["_id"], doc["state"], ms(doc["entries_until"]), pairs)


async def enter(deps: Deps, user: CurrentUser, lottery_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Returns {code, created}: a retry (or a second phone of the same member) gets the same code."""
    doc = await load_visible(deps, user, lottery_id)
    require_member(user)
    if doc["mode"] != "draw":
        raise Conflict("该抽奖为即开型，请直接抽奖", code="wrong_mode")
    at = now or clock_now()
    for _ in range(8):
        code = draw.new_code()
        d = await live.enter(deps, lottery_id, user.member_id, code, ms(at))
        if d.verdict == "lost":
            await ensure_live(deps, doc)
            continue
        if d.verdict == "collision":
            continue
        if d.verdict == "closed":
            raise Conflict("报名已截止", code="entries_closed")
        entry = {
            "_id": f"{lottery_id}:{user.member_id}", "lottery_id": lottery_id, "member_id": user.member_id,
            "code": d.value, "org": user.org, "org_path": list(user.org_path), "entered_at": at,
        }  # fmt: skip
        stored = await store.save_entry(deps.db, entry)  # journaled before the worker hears the code
        await live.written(deps, lottery_id, user.member_id)
        return {"code": stored["code"], "created": d.verdict == "ok", "entered_at": stored["entered_at"].isoformat()}
    raise Unavailable("报名人数较多，请稍后重试", code="busy")


async def my_entry(deps: Deps, user: CurrentUser, lottery_id: str) -> dict[str, Any]:
    """My code, its Merkle proof once the list is frozen, and my result once publicized."""
    doc = await load_visible(deps, user, lottery_id)
    require_member(user)
    entry = await store.entry_of(deps.db, lottery_id, user.member_id)
    if entry is None:
        raise NotFound("您尚未报名该抽奖", code="not_entered")
    out: dict[str, Any] = {"code": entry["code"], "entered_at": entry["entered_at"].isoformat(), "proof": [],
                           "result": "pending", "tier": ""}  # fmt: skip
    if doc["state"] != "open" and doc.get("merkle_root"):
        codes = await frozen.cached_codes(deps, lottery_id)
        out["proof"] = [{"side": s, "hash": h} for s, h in draw.merkle_proof(codes, codes.index(entry["code"]))]
    if doc["state"] in PUBLIC_STATES:
        won = {w["code"]: w["tier"] for w in doc["winners"]}
        out_codes = {d["code"] for d in doc["disqualified"]}
        out["result"] = "won" if entry["code"] in won else "disqualified" if entry["code"] in out_codes else "lost"
        out["tier"] = won.get(entry["code"], "")
    return out


async def detail(deps: Deps, user: CurrentUser, lottery_id: str) -> dict[str, Any]:
    return public_view(await load_visible(deps, user, lottery_id))


async def list_visible(deps: Deps, user: CurrentUser, *, cursor: str, limit: int, live: bool = False) -> dict[str, Any]:
    """Newest first; `live`: only those a worker can act on or check now (open, or in 公示) — the home page."""
    from services.lotteries.views import summary

    before = datetime.fromtimestamp(int(cursor) / 1000, tz=UTC) if cursor.isdigit() and len(cursor) <= 13 else None
    query = visibility.visible_filter(user)
    if live:
        query["state"] = {"$in": ["open", "publicized"]}
    docs = await store.page(deps.db, query, before=before, limit=limit + 1)
    items = [summary(d) for d in docs[:limit]]
    return {"items": items, "next_cursor": str(ms(docs[limit - 1]["created_at"])) if len(docs) > limit else None}
