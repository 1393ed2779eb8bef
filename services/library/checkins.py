"""阅读打卡 and reading campaigns: a worker checks in once a day (a streak to keep), and an org runs a
campaign (e.g. 世界读书日, a date window) whose ranking counts readers and check-ins per org below it."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, NotFound
from services.editors import audit
from services.editors.scope import Scope
from services.library import checkins_store as store
from services.members.sessions import CurrentUser
from services.orgs import store as orgs
from services.orgs import visibility

MAX_CAMPAIGN_DAYS = 92


def _day(at: datetime) -> str:
    return at.strftime("%Y%m%d")


def streak(days: list[str], today: str) -> int:
    """Consecutive days ending today (or yesterday, when today has no check-in yet). Pure."""
    have = set(days)
    cursor = date(int(today[:4]), int(today[4:6]), int(today[6:8]))
    if today not in have:
        cursor -= timedelta(days=1)
    n = 0
    while cursor.strftime("%Y%m%d") in have:
        n += 1
        cursor -= timedelta(days=1)
    return n


async def check_in(deps: Deps, user: CurrentUser) -> dict[str, Any]:
    """Today's check-in (a repeat the same day changes nothing) and the worker's streak."""
    at = now()
    today = _day(at)
    path = list(user.org_path) or [visibility.PROVINCE]
    doc = {"_id": f"{user.openid}:{today}", "openid": user.openid, "day": today, "org": path[-1],
           "org_path": path, "at": at}  # fmt: skip
    first = await store.check_in(deps.db, doc)
    days = await store.days_of(deps.db, user.openid)
    return {"day": today, "new": first, "streak": streak(days, today), "total_days": len(days)}


def _date(raw: Any, label: str) -> date:
    if isinstance(raw, str) and len(raw) == 10:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise BadInput(f"{label}应为 2026-04-23 这样的日期", code="invalid_date")


async def create_campaign(deps: Deps, scope: Scope, body: dict[str, Any]) -> dict[str, Any]:
    """A campaign of the working org (the owner comes from the scope, never from the body)."""
    scope.require_write()
    title = body.get("title")
    if not isinstance(title, str) or not 2 <= len(title.strip()) <= 40:
        raise BadInput("活动名称应为 2 到 40 个字", code="invalid_title")
    first, last = _date(body.get("starts_on"), "开始日期"), _date(body.get("ends_on"), "结束日期")
    if not 0 <= (last - first).days < MAX_CAMPAIGN_DAYS:
        raise BadInput(f"结束日期应在开始日期之后，活动最长 {MAX_CAMPAIGN_DAYS} 天", code="invalid_dates")
    org = await scope.owner(deps.db)
    campaign_id = "rc" + secrets.token_hex(6)
    doc: dict[str, Any] = {"_id": campaign_id, "org": org.code, "org_path": list(org.path), "title": title.strip(),
           "starts_on": first.strftime("%Y%m%d"), "ends_on": last.strftime("%Y%m%d"),
           "created_by": scope.editor.username, "created_at": now()}  # fmt: skip
    await store.insert_campaign(deps.db, doc)
    await audit.record(deps.db, scope.editor, "create", "reading_campaign", campaign_id, org.path,
                       summary=f"新建阅读活动“{doc['title']}”", after=doc, ip=scope.ip)  # fmt: skip
    return _view(doc)


def _view(doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc["_id"], "org": doc["org"], "title": doc["title"],
            "starts_on": doc["starts_on"], "ends_on": doc["ends_on"]}  # fmt: skip


async def campaigns(deps: Deps, user: CurrentUser) -> dict[str, Any]:
    path = list(user.org_path) or [visibility.PROVINCE]
    return {"items": [_view(d) for d in await store.active_campaigns(deps.db, path, _day(now()))]}


async def ranking(deps: Deps, user: CurrentUser, campaign_id: str) -> dict[str, Any]:
    """Readers and check-ins per org one level below the campaign's org, within its window."""
    doc = await store.get_campaign(deps.db, campaign_id) if len(campaign_id) <= 40 else None
    if doc is None:
        raise NotFound("阅读活动不存在", code="campaign_not_found")
    visibility.check_visible(user, doc["org"], "阅读活动")
    here = await orgs.get(deps.db, doc["org"])
    depth = len(here.path) if here else 1
    rows = await store.checkins_by(deps.db, doc["org"], f"org_path.{depth}", doc["starts_on"], doc["ends_on"])
    names = {c.code: c.name for c in await orgs.children(deps.db, doc["org"])}
    items = [
        {"rank": i, "org": r["org"] or doc["org"], "name": names.get(r["org"], "本级直属") if r["org"] else "本级直属",
         "readers": r["readers"], "checkins": r["checkins"]}
        for i, r in enumerate(rows, 1)
    ]  # fmt: skip
    return {**_view(doc), "items": items}
