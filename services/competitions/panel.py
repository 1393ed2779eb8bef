"""The judging panel: judges with their org affiliations and conflicts, and the assignment of entries.

A judge is a console account with the `judge` role; `comp_judges` adds, per competition, the org
paths the judge belongs to (the account's own org plus any the owner lists: a former employer, a
county union they sit on) and declared conflicts (entrant org codes or entry ids). Recusal is
decided by recusal.may_judge; the assignment itself by assignment.assign (deterministic).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from core.clock import now
from core.errors import BadInput, Conflict
from services.competitions import store
from services.competitions.access import loaded, owned, record, require_status
from services.competitions.assignment import NotEnoughJudgesError, assign
from services.competitions.model import Competition
from services.competitions.recusal import may_judge
from services.editors import store as editor_store
from services.editors.scope import Scope
from services.orgs import store as orgs


def eligible(comp: Competition, entry: dict[str, Any], judge: dict[str, Any]) -> bool:
    conflicts = set(judge.get("conflicts") or ())
    if entry["org"] in conflicts:
        return False
    return may_judge(entry["_id"], entry["org_path"], judge["affiliations"], conflicts, comp.org)


async def add_judge(
    deps: Any, scope: Scope, cid: str, username: Any, affiliations: Any = (), conflicts: Any = ()
) -> dict[str, Any]:
    _, comp = await owned(deps.db, scope, cid)
    scope.require_write()
    require_status(comp, "registration", "in_progress", "judging", "publicity")  # later: replacements only
    account = await editor_store.get(deps.db, username) if isinstance(username, str) else None
    if account is None or account.get("role") != "judge" or account.get("disabled"):
        raise BadInput("评委账号不存在或不是评委角色（请先在账号管理中创建“评委”账号）", code="invalid_judge")
    if comp.status in ("judging", "publicity") and await store.judge(deps.db, cid, account["_id"]):
        # changing affiliations under existing assignments could hide a recusal violation
        raise Conflict("评审开始后不能修改已有评委的单位和回避信息", code="panel_locked")
    codes = [account["org"], *(affiliations if isinstance(affiliations, list | tuple) else [None])]
    paths = []
    for code in codes:
        org = await orgs.get(deps.db, code) if isinstance(code, str) else None
        if org is None:
            raise BadInput(f"评委所属单位「{code}」不存在", code="invalid_field")
        paths.append(list(org.path))
    if not isinstance(conflicts, list | tuple) or not all(isinstance(c, str) and len(c) <= 40 for c in conflicts):
        raise BadInput("回避单位应为单位编码或参赛编号的列表", code="invalid_field")
    doc = {
        "_id": f"{cid}:{account['_id']}",
        "competition": cid,
        "username": account["_id"],
        "name": account.get("name") or account["_id"],
        "affiliations": paths,
        "conflicts": sorted(set(conflicts)),
        "added_by": scope.editor.username,
        "added_at": now(),
    }
    await store.upsert_judge(deps.db, doc)
    await record(deps.db, scope, "update", comp, f"设置评委 {doc['name']}", after=doc)
    return doc


async def start_judging(deps: Any, scope: Scope, cid: str) -> Competition:
    """Close the stages, assign every approved entry its quota of judges, open judging."""
    from services.competitions.admin import move

    _, comp = await owned(deps.db, scope, cid)
    scope.require_write()
    require_status(comp, "in_progress")
    entries = await store.entries(deps.db, cid, "approved")
    judges = {j["username"]: j for j in await store.judges(deps.db, cid)}
    if not entries:
        raise Conflict("没有审核通过的参赛单位，不能开始评审", code="no_entries")
    by_id = {e["_id"]: e for e in entries}
    try:
        plan = assign(
            list(by_id),
            sorted(judges),
            comp.rules.judges_per_entry,
            lambda e, j: eligible(comp, by_id[e], judges[j]),
        )
    except NotEnoughJudgesError as exc:
        raise Conflict(
            f"参赛单位「{by_id[exc.entry]['name']}」可回避后的评委只有 {exc.eligible} 位，"
            f"少于每件 {exc.quota} 位，请增加评委",
            code="not_enough_judges",
        ) from None
    docs = [_assignment(cid, by_id[e], j, 1) for e, js in sorted(plan.by_entry.items()) for j in js]
    await store.insert_assignments(deps.db, docs)
    loads = Counter(d["judge"] for d in docs)
    low, high = min(loads.values()), max(loads.values())
    summary = f"开始评审：{len(entries)} 个参赛单位，{len(judges)} 位评委，每位评 {low}-{high} 件"
    return await move(deps, scope, cid, "in_progress", "judging", summary)


def _assignment(cid: str, entry: dict[str, Any], judge: str, round_no: int) -> dict[str, Any]:
    return {
        "_id": f"{cid}:{entry['_id']}:{judge}",
        "competition": cid,
        "entry": entry["_id"],
        "blind_code": entry["blind_code"],
        "judge": judge,
        "round": round_no,
        "assigned_at": now(),
    }


async def pick_fresh_judge(deps: Any, comp: Competition, entry: dict[str, Any]) -> str:
    """One more judge for a re-opened entry: eligible, never on this entry before, least loaded."""
    judges = await store.judges(deps.db, comp.id)
    current = await store.assignments(deps.db, comp.id)
    on_entry = {a["judge"] for a in current if a["entry"] == entry["_id"]}
    loads = Counter(a["judge"] for a in current)
    fresh = [j for j in judges if j["username"] not in on_entry and eligible(comp, entry, j)]
    if not fresh:
        raise Conflict("没有可以重新评审该参赛单位的评委（均已参评或需回避），请先增加评委", code="no_fresh_judge")
    return str(min(fresh, key=lambda j: (loads[j["username"]], j["username"]))["username"])


async def add_judge_to_entry(
    deps: Any, comp: Competition, entry: dict[str, Any], judge: str, round_no: int = 2
) -> None:
    """Round 2 is an appeal's re-opening (scored during 公示); round 1 replaces a recused judge."""
    await store.insert_assignments(deps.db, [_assignment(comp.id, entry, judge, round_no)])


async def judges_of(deps: Any, scope: Scope, cid: str) -> list[dict[str, Any]]:
    await owned(deps.db, scope, cid)
    return await store.judges(deps.db, cid)


async def check_panel(deps: Any, cid: str) -> dict[str, int]:
    """Recusal violations and judge quota of a competition's stored assignments (ops and tests)."""
    comp = await loaded(deps.db, cid)
    entries = {e["_id"]: e for e in await store.entries(deps.db, cid, "approved")}
    judges = {j["username"]: j for j in await store.judges(deps.db, cid)}
    rows = await store.assignments(deps.db, cid)
    violations = sum(not eligible(comp, entries[a["entry"]], judges[a["judge"]]) for a in rows)
    per_entry = Counter(a["entry"] for a in rows)
    short = sum(per_entry[e] < comp.rules.judges_per_entry for e in entries)
    return {"violations": violations, "short_entries": short, "assignments": len(rows)}
