"""What editors watch: their lotteries, one lottery with live numbers, the winners list, stopping an
instant-win lottery early."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import Conflict
from services.editors import audit
from services.editors.scope import Scope
from services.lotteries import instant, live, store
from services.lotteries.views import editor_view, load_in_scope, summary
from services.members import store as members


async def list_for(deps: Deps, scope: Scope, limit: int = 200) -> list[dict[str, Any]]:
    return [summary(d) for d in await store.page(deps.db, {"org_path": scope.org}, before=None, limit=limit)]


async def detail(deps: Deps, scope: Scope, lottery_id: str) -> dict[str, Any]:
    doc = await load_in_scope(deps, scope, lottery_id)
    view = editor_view(doc)
    view["entries_now"] = await store.count_entries(deps.db, lottery_id) if doc["mode"] == "draw" else None
    view["stock"] = await instant.stock(deps, doc) if doc["mode"] == "instant" else []
    view["can_close"] = doc["mode"] == "draw" and doc["state"] == "open" and now() >= doc["entries_until"]
    view["can_finalize"] = doc["state"] == "publicized" and now() >= doc["publicity_until"]
    return view


async def winner_rows(deps: Deps, scope: Scope, lottery_id: str) -> list[list[Any]]:
    """For delivering prizes: tier, 抽签码, member number, name, org (editors only; never published)."""
    doc = await load_in_scope(deps, scope, lottery_id)
    rows: list[list[Any]] = [["奖项", "抽签码", "会员编号", "姓名", "工会"]]
    entries = {
        e["code"]: e
        for e in await store.entries_by_codes(deps.db, lottery_id, [w["code"] for w in doc.get("winners", [])])
    }
    for w in doc.get("winners", []):
        e = entries.get(w["code"])
        m = await members.get(deps.db, e["member_id"]) if e else None
        rows.append([w["tier"], w["code"], e["member_id"] if e else "", m.name if m else "", m.org if m else ""])
    return rows


async def entry_rows(deps: Deps, scope: Scope, lottery_id: str) -> AsyncIterator[list[Any]]:
    """Every entry, by code: 抽签码, member number, org, time (for checking appeals; editors only)."""
    await load_in_scope(deps, scope, lottery_id)
    yield ["抽签码", "会员编号", "工会", "报名时间"]
    after = ""
    while True:
        page = await store.entries_page(deps.db, lottery_id, after, 2_000)
        for e in page:
            yield [e["code"], e["member_id"], e.get("org", ""), e["entered_at"].isoformat(timespec="seconds")]
        if len(page) < 2_000:
            return
        after = page[-1]["code"]


async def stop_instant(deps: Deps, scope: Scope, lottery_id: str, at: datetime | None = None) -> dict[str, Any]:
    scope.require_write()
    doc = await load_in_scope(deps, scope, lottery_id)
    if doc["mode"] != "instant" or doc["state"] != "open":
        raise Conflict("只有进行中的即开型抽奖可以提前结束", code="wrong_state")
    after = await store.transition(deps.db, lottery_id, "open", "final", {"finalized_at": at or now()})
    if after is None:
        raise Conflict("该抽奖已结束", code="wrong_state")
    await live.set_table_state(deps, lottery_id, "final")
    await audit.record(
        deps.db, scope.editor, "lottery.close", "lottery", lottery_id, doc["org_path"],
        summary=f"提前结束抽奖“{doc['title']}”", after={"state": "final"}, ip=scope.ip,
    )  # fmt: skip
    return editor_view(after)
