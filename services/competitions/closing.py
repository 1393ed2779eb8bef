"""From judging to the end: results, 公示 (ranking published for >= 5 working days), commendations.

- publish: every approved entry must have its full quota of scores; results are computed from the raw
  rows and stored; the 公示 ends `rules.publicity_days` working days later (workdays.add_working_days).
- finalize: after the 公示 ended, with no appeal pending and every re-opened entry re-scored, the
  ranking is frozen and the rules' awards go down it (一等奖 to the first `count` ...).
"""

from __future__ import annotations

from typing import Any

from core.clock import now
from core.errors import Conflict
from services.competitions import results, store
from services.competitions.access import loaded, owned, record, require_status
from services.competitions.model import Competition
from services.competitions.publicity import draft_push
from services.competitions.scoring import ranks
from services.competitions.workdays import add_working_days
from services.editors.scope import Scope


async def ranking(db: Any, comp: Competition) -> list[dict[str, Any]]:
    """Stored results with names and ranks, best first (unscored entries last, without a rank)."""
    stored = await results.stored(db, comp)
    entries = await store.entries(db, comp.id, "approved")
    order = ranks({e: r.score for e, r in stored.items()})
    rows = [
        {
            "entry": e["_id"],
            "name": e["name"],
            "org": e["org"],
            "score": stored[e["_id"]].score if e["_id"] in stored else None,
            "judges": stored[e["_id"]].judges if e["_id"] in stored else 0,
            "rank": order.get(e["_id"]),
        }
        for e in entries
    ]
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["entry"]))


async def unscored(db: Any, cid: str) -> int:
    """Assignments still waiting for their judge's score."""
    done = {s["_id"] for s in await store.scores(db, cid)}
    out = {f"{cid}:{e['_id']}:{j}" for e in await store.entries(db, cid, "approved") for j in e.get("recused") or ()}
    return sum(a["_id"] not in done and a["_id"] not in out for a in await store.assignments(db, cid))


async def publish(deps: Any, scope: Scope, cid: str) -> Competition:
    from services.competitions.admin import move

    _, comp = await owned(deps.db, scope, cid)
    scope.require_write()
    require_status(comp, "judging")
    computed = await results.store_all(deps.db, comp)
    missing = await unscored(deps.db, cid)
    if missing or any(r.score is None for r in computed.values()):
        raise Conflict(f"还有 {missing} 份评分未提交，不能公示", code="judging_incomplete")
    ends = add_working_days(now(), comp.rules.publicity_days)
    summary = f"评审结束，结果公示至 {ends:%Y-%m-%d %H:%M}（{comp.rules.publicity_days} 个工作日）"
    published = await move(deps, scope, cid, "judging", "publicity", summary, publicity_ends_at=ends)
    push_id, why = await draft_push(deps, scope, published)
    note = f"已生成公示推送草稿 {push_id}，请在消息推送中核对后发送" if push_id else f"公示推送草稿未能生成：{why}"
    await record(deps.db, scope, "create", published, note, after={"publicity_push": push_id})
    return await loaded(deps.db, cid)


async def finalize(deps: Any, scope: Scope, cid: str) -> Competition:
    from services.competitions.admin import move

    _, comp = await owned(deps.db, scope, cid)
    scope.require_write()
    require_status(comp, "publicity")
    if comp.publicity_ends_at and now() < comp.publicity_ends_at:
        raise Conflict(
            f"公示期到 {comp.publicity_ends_at:%Y-%m-%d %H:%M} 结束，结束后才能确定表彰名单", code="publicity_running"
        )
    if await store.appeals(deps.db, cid, "pending"):
        raise Conflict("还有申诉未处理，不能确定表彰名单", code="appeals_pending")
    computed = await results.store_all(deps.db, comp)
    if await unscored(deps.db, cid) or any(r.score is None for r in computed.values()):
        raise Conflict("重新评审尚未完成，不能确定表彰名单", code="judging_incomplete")
    rows = await ranking(deps.db, comp)
    commendations, pos = [], 0
    for award in comp.rules.awards:
        for row in rows[pos : pos + award.count]:
            commendations.append({**row, "award": award.name})
        pos += award.count
    return await move(
        deps, scope, cid, "publicity", "final", f"确定表彰名单 {len(commendations)} 个", commendations=commendations
    )


async def commendations(deps: Any, cid: str) -> list[dict[str, Any]]:
    doc = await store.competition(deps.db, cid)
    return list((doc or {}).get("commendations") or [])


async def rebuild_equals_stored(deps: Any, cid: str) -> bool:
    """Every stored result equals the one rebuilt from the raw rows (ops check and tests)."""
    comp = await loaded(deps.db, cid)
    return await results.rebuild(deps.db, comp) == await results.stored(deps.db, comp)
