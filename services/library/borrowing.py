"""Workers and the 书屋 catalogue: search the city or the province, hold a title, cancel, renew, see mine.

A hold is one guarded update on an on-shelf copy in reach (on_shelf -> held, 48 h to collect). When every
copy in reach is out, the worker joins the title's queue, which spans all 书屋 (services/library/queue.py).
One active hold per title and person (the hold's `_id`), at most MAX_HOLDS holds (a guarded counter).
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

from core.clock import localize, now
from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound, TooMany
from services.library import queue, store
from services.library.isbn import normalize
from services.members.sessions import CurrentUser

MAX_HOLDS = 3
MAX_RENEWALS = 2
RENEW_FOR = timedelta(days=14)
REACHES = ("city", "province")
PAGE = 20


def city_of(user: CurrentUser) -> str:
    """The worker's city union (the second level of their org path); unbound workers have none."""
    return user.org_path[1] if user.is_member and len(user.org_path) > 1 else ""


def reach_filter(user: CurrentUser, reach: str) -> dict[str, Any]:
    if reach not in REACHES:
        raise BadInput("范围只能是 city（本市）或 province（全省）", code="invalid_reach")
    city = city_of(user)
    return {"city": city} if reach == "city" and city else {}


async def search(deps: Deps, user: CurrentUser, q: str, reach: str, cursor: str = "") -> dict[str, Any]:
    """Titles matching the words (title, author) or the ISBN, with copies on the shelf in reach, per 书屋."""
    where = reach_filter(user, reach)
    q = q.strip()
    if not 1 <= len(q) <= 50:
        raise BadInput("请输入 1 到 50 个字的书名、作者或 ISBN", code="invalid_query")
    isbn = normalize(q)
    words = re.escape(q)
    query: dict[str, Any] = (
        {"_id": isbn} if isbn else {"$or": [{"title": {"$regex": words}}, {"author": {"$regex": words}}]}
    )
    if cursor:
        query = {"$and": [query, {"_id": {"$gt": cursor}}]}
    found = await store.titles(deps.db, query, PAGE + 1)
    page = found[:PAGE]
    counts = await store.copy_counts(deps.db, {"isbn": {"$in": [t["_id"] for t in page]}, **where})
    room_ids = sorted({r["_id"]["room"] for r in counts})
    rooms = {r["_id"]: r for r in await store.rooms_in(deps.db, {"_id": {"$in": room_ids}})}
    items = []
    for t in page:
        mine = [r for r in counts if r["_id"]["isbn"] == t["_id"]]
        where_rooms = [
            {"room": r["_id"]["room"], "name": rooms.get(r["_id"]["room"], {}).get("name", ""),
             "address": rooms.get(r["_id"]["room"], {}).get("address", ""), "on_shelf": r["on_shelf"],
             "total": r["total"]}
            for r in sorted(mine, key=lambda r: (-r["on_shelf"], r["_id"]["room"]))
        ]  # fmt: skip
        items.append({
            "isbn": t["_id"], "title": t["title"], "author": t.get("author", ""), "publisher": t.get("publisher", ""),
            "on_shelf": sum(r["on_shelf"] for r in mine), "total": sum(r["total"] for r in mine), "rooms": where_rooms,
        })  # fmt: skip
    return {"items": items, "next_cursor": page[-1]["_id"] if len(found) > PAGE else None}


async def place_hold(deps: Deps, user: CurrentUser, raw_isbn: str, reach: str, room: str = "") -> dict[str, Any]:
    isbn = normalize(raw_isbn)
    if isbn is None:
        raise BadInput("ISBN 不正确，请核对校验位", code="invalid_isbn")
    where = reach_filter(user, reach)
    if room:
        where["room"] = room
    if not await store.copies(deps.db, {"isbn": isbn, **where}, limit=1):
        raise NotFound("您可借阅范围内的书屋没有这本书，可以换全省范围查找", code="no_copy_in_reach")
    hold_id = f"{isbn}:{user.openid}"
    doc = {"_id": hold_id, "isbn": isbn, "openid": user.openid, "status": "placing", "reach": reach,
           "city": city_of(user), "room_wanted": room, "seq": time.time_ns(), "created_at": now()}  # fmt: skip
    if not await store.patron_take(deps.db, user.openid, "holds", MAX_HOLDS):
        raise TooMany(f"每人最多同时预约 {MAX_HOLDS} 本书，请先借走或取消已有的预约", code="too_many_holds")
    if not await store.insert_hold(deps.db, doc):
        await store.patron_release(deps.db, user.openid, "holds")
        raise Conflict("您已预约过这本书（或正在排队）", code="already_held")
    until = now() + queue.HOLD_FOR
    copy = await store.take_copy(
        deps.db, {"isbn": isbn, "status": "on_shelf", **where},
        {"status": "held", "holder": user.openid, "hold_until": until, "hold_id": hold_id},
    )  # fmt: skip
    if copy is not None:
        changes = {"status": "held", "copy": copy["_id"], "room": copy["room"], "until": until}
    else:
        changes = {"status": "waiting"}
    hold = await store.update_hold(deps.db, {"_id": hold_id, "status": "placing"}, changes)
    return _hold_view(hold or {**doc, **changes}, await _position(deps, hold or doc))


async def _position(deps: Deps, hold: dict[str, Any]) -> int:
    if hold.get("status") != "waiting":
        return 0
    ahead = await store.holds(deps.db, {"isbn": hold["isbn"], "status": "waiting", "seq": {"$lt": hold["seq"]}})
    return len(ahead) + 1


def _hold_view(h: dict[str, Any], position: int) -> dict[str, Any]:
    return {
        "isbn": h["isbn"], "status": h["status"], "room": h.get("room"), "copy": h.get("copy"),
        "until": localize(h["until"]).isoformat() if h.get("until") else None, "queue_position": position or None,
    }  # fmt: skip


async def cancel_hold(deps: Deps, user: CurrentUser, raw_isbn: str) -> dict[str, Any]:
    isbn = normalize(raw_isbn) or ""
    hold = await store.delete_hold(deps.db, {"_id": f"{isbn}:{user.openid}", "status": {"$in": ["held", "waiting"]}})
    if hold is None:
        raise NotFound("没有这本书的预约", code="hold_not_found")
    await store.patron_release(deps.db, user.openid, "holds")
    if hold.get("copy"):
        freed = await store.take_copy(
            deps.db, {"_id": hold["copy"], "status": "held", "hold_id": hold["_id"]},
            {"status": "on_shelf", "holder": None, "hold_until": None, "hold_id": None},
        )  # fmt: skip
        if freed is not None:
            await queue.allocate(deps, hold["copy"])
    return {"cancelled": True}


async def mine(deps: Deps, user: CurrentUser) -> dict[str, Any]:
    held = await store.holds(deps.db, {"openid": user.openid})
    loans = await store.copies(deps.db, {"status": "lent", "borrower": user.openid}, limit=50)
    at = now()
    return {
        "holds": [_hold_view(h, await _position(deps, h)) for h in held if h["status"] in ("held", "waiting")],
        "loans": [
            {"copy": c["_id"], "isbn": c["isbn"], "room": c["room"], "due_at": localize(c["due_at"]).isoformat(),
             "renewals": c.get("renewals", 0), "overdue": localize(c["due_at"]) < at}
            for c in loans
        ],
    }  # fmt: skip


async def renew(deps: Deps, user: CurrentUser, copy_id: str) -> dict[str, Any]:
    copy = await store.copy(deps.db, copy_id)
    if copy is None or copy.get("status") != "lent" or copy.get("borrower") != user.openid:
        raise NotFound("没有这本书的借阅记录", code="loan_not_found")
    if await store.holds(deps.db, {"isbn": copy["isbn"], "status": "waiting"}, limit=1):
        raise Conflict("这本书有人排队预约，不能续借，请按期归还", code="others_waiting")
    due = localize(copy["due_at"])
    if due < now():
        raise Conflict("已逾期，不能续借，请尽快归还", code="overdue")
    after = await store.take_copy(
        deps.db,
        {"_id": copy_id, "status": "lent", "borrower": user.openid, "due_at": copy["due_at"],
         "renewals": {"$not": {"$gte": MAX_RENEWALS}}},
        {"due_at": due + RENEW_FOR, "renewals": int(copy.get("renewals", 0)) + 1, "overdue_notified_at": None},
    )  # fmt: skip
    if after is None:
        raise Conflict(f"每次借阅最多续借 {MAX_RENEWALS} 次", code="renewals_exhausted")
    return {"copy": copy_id, "due_at": localize(after["due_at"]).isoformat(), "renewals": after["renewals"]}
