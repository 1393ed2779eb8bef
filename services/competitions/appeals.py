"""Appeals during 公示: one per entry, with reasons; decisions audited and never silent.

An entrant's editors (the entrant org or a union above it) appeal while the 公示 runs; the unique `_id`
(the entry id) makes it once. The owner's editors decide: rejected, or upheld, and an upheld appeal
may re-open the entry's judging: one fresh judge (eligible, never on the entry) is added and, when the
decision names one, a judge's score is voided — the row stays, the void is listed on the entry and in
the audit log, and the result is rebuilt from the rows.
"""

from __future__ import annotations

from typing import Any

from core.clock import now
from core.errors import BadInput, Conflict, Forbidden, NotFound
from services.competitions import results, store
from services.competitions.access import entry_in_scope, loaded, owned, record, require_status
from services.competitions.panel import add_judge_to_entry, pick_fresh_judge
from services.editors.scope import Scope


async def appeal(deps: Any, scope: Scope, entry_id: str, reasons: Any) -> dict[str, Any]:
    scope.require_write()
    entry = await entry_in_scope(deps.db, scope, entry_id)
    comp = await loaded(deps.db, entry["competition"])
    if scope.editor.org in comp.org_path:
        raise Forbidden("申诉由参赛单位或其所在工会提出，主办工会不能代为申诉", code="entrant_only")
    ended = comp.status == "final" or (comp.publicity_ends_at is not None and now() >= comp.publicity_ends_at)
    if ended:
        raise Conflict("公示期已结束，不能再申诉", code="publicity_over")
    require_status(comp, "publicity")
    if not isinstance(reasons, str) or not 5 <= len(reasons.strip()) <= 2000:
        raise BadInput("请写明申诉理由（5 到 2000 字）", code="invalid_field")
    doc = {
        "_id": entry_id,
        "competition": comp.id,
        "entry_name": entry["name"],
        "reasons": reasons.strip(),
        "status": "pending",
        "by": scope.editor.username,
        "at": now(),
    }
    if not await store.insert_appeal(deps.db, doc):
        raise Conflict("每个参赛单位只能申诉一次，本单位已提交过申诉", code="already_appealed")
    await record(deps.db, scope, "create", comp, f"{entry['name']} 提出申诉", after=doc)
    return doc


async def decide(
    deps: Any, scope: Scope, entry_id: str, upheld: bool, reply: Any, reopen: bool = False, void_judge: Any = ""
) -> dict[str, Any]:
    current = await store.appeal(deps.db, entry_id)
    if current is None:
        raise NotFound("申诉不存在", code="not_found")
    _, comp = await owned(deps.db, scope, current["competition"])
    scope.require_write()
    require_status(comp, "publicity")
    if not isinstance(reply, str) or not 2 <= len(reply.strip()) <= 2000:
        raise BadInput("请填写处理意见（2 到 2000 字）", code="invalid_field")
    if reopen and not upheld:
        raise BadInput("只有申诉成立时才能重新评审", code="invalid_field")
    entry = await store.entry(deps.db, entry_id)
    assert entry is not None
    if void_judge:
        scored = {s["judge"] for s in await store.scores(deps.db, comp.id, entry_id)}
        if not reopen or void_judge not in scored:
            raise BadInput("只能在重新评审时作废该参赛单位已有的一位评委的评分", code="invalid_field")
    fresh = await pick_fresh_judge(deps, comp, entry) if reopen else ""  # refused before anything changes
    changes: dict[str, Any] = {
        "status": "upheld" if upheld else "rejected",
        "reply": reply.strip(),
        "decided_at": now(),
    }
    changes |= {"decided_by": scope.editor.username, "reopen": bool(reopen), "voided_judge": void_judge or ""}
    changes["fresh_judge"] = fresh
    decided = await store.decide_appeal(deps.db, entry_id, changes)
    if decided is None:
        raise Conflict("该申诉已处理", code="already_decided")
    if reopen:
        update: dict[str, Any] = {"$set": {"reopened_at": now()}}
        if void_judge:
            update["$addToSet"] = {"voided": void_judge}
        entry = await store.move_entry(deps.db, entry_id, {}, update) or entry
        await add_judge_to_entry(deps, comp, entry, fresh)
        await results.refresh_entry(deps.db, comp, entry)
    word = "成立" if upheld else "不成立"
    await record(deps.db, scope, "update", comp, f"{entry['name']} 的申诉{word}", before=current, after=changes)
    return {**decided, **changes}
