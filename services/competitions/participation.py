"""Workers in the mini-program: the competitions their units take part in, stage news, published results.

A worker sees a competition when a unit on their org path has an approved entry in it, and, during 公示
and after, every competition owned by an org on their path (the ranking is public for its period).
Judges' scores and blind codes never reach workers; entrants' names appear in the published ranking.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from core.clock import localize
from core.errors import BadInput, NotFound
from services.competitions import closing, store
from services.competitions.model import KINDS, STATUSES, from_doc
from services.members.sessions import CurrentUser

CURSOR = re.compile(r"^[0-9a-f]{12}$")
PUBLIC = ("publicity", "final")


def _iso(value: Any) -> str | None:
    return localize(value).isoformat() if isinstance(value, datetime) else None


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "title": doc["title"],
        "kind": doc["kind"],
        "kind_name": KINDS[doc["kind"]],
        "org": doc["org"],
        "status": doc["status"],
        "status_name": STATUSES[doc["status"]],
        "publicity_ends_at": _iso(doc.get("publicity_ends_at")),
    }


async def list_for(deps: Any, user: CurrentUser, cursor: str = "", limit: int = 20) -> dict[str, Any]:
    if cursor and not CURSOR.match(cursor):
        raise BadInput("cursor 不正确", code="invalid_field")
    path = list(user.org_path or ())
    if not path:
        return {"items": [], "next_cursor": None}
    entered = await store.competitions_entered_by(deps.db, path)
    docs = await store.visible_competitions(deps.db, entered, path, cursor, limit + 1)
    items = [_summary(d) for d in docs[:limit]]
    return {"items": items, "next_cursor": items[-1]["id"] if len(docs) > limit else None}


async def _visible(deps: Any, user: CurrentUser, cid: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    doc = await store.competition(deps.db, cid)
    path = list(user.org_path or ())
    mine = await store.entries_of_orgs(deps.db, cid, path) if doc and path else []
    mine = [e for e in mine if e["status"] == "approved"]
    public = doc is not None and doc["status"] in PUBLIC and doc["org"] in path
    if doc is None or doc["status"] == "draft" or not (mine or public):
        raise NotFound("竞赛不存在或不在您的范围内", code="not_found")
    return doc, mine


async def detail(deps: Any, user: CurrentUser, cid: str) -> dict[str, Any]:
    doc, mine = await _visible(deps, user, cid)
    news = await store.news(deps.db, cid, limit=20)
    return {
        **_summary(doc),
        "description": doc.get("description", ""),
        "registration_deadline": _iso(doc["registration_deadline"]),
        "stages": [{"id": s["id"], "name": s["name"], "quiz_survey": s.get("quiz_survey", "")} for s in doc["stages"]],
        "my_entries": [{"name": e["name"], "org": e["org"]} for e in mine],
        "news": [{"stage": n["stage"], "title": n["title"], "text": n["text"], "at": _iso(n["at"])} for n in news],
    }


async def ranking(deps: Any, user: CurrentUser, cid: str, cursor: str = "", limit: int = 50) -> dict[str, Any]:
    """The published ranking, `limit` rows from position `cursor` (a row index; empty = the top)."""
    if cursor and not cursor.isdigit():
        raise BadInput("cursor 不正确", code="invalid_field")
    doc, _ = await _visible(deps, user, cid)
    if doc["status"] not in PUBLIC:
        raise NotFound("评审结果尚未公示", code="not_published")
    comp = from_doc(doc)
    rows = await closing.ranking(deps.db, comp)
    honours = {c["entry"]: c["award"] for c in doc.get("commendations") or []}
    items = [
        {"rank": r["rank"], "name": r["name"], "score": r["score"], "award": honours.get(r["entry"], "")}
        for r in rows
        if r["rank"] is not None
    ]
    start = int(cursor or 0)
    page = items[start : start + limit]
    more = str(start + limit) if start + limit < len(items) else None
    ends = _iso(doc.get("publicity_ends_at"))
    return {"id": cid, "status": doc["status"], "publicity_ends_at": ends, "items": page, "next_cursor": more}
