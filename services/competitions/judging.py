"""Judges at work: they see only their own assignments, by blind code, and score each one once.

A score is one insert of one row per (competition, entry, judge) under a unique index, written with a
journaled write concern: a second submission (a double click, a retry, two tabs) finds the row taken
and gets 409; there is no update path, so a submitted score is locked. The entry's result is then
recomputed from its raw rows (results.refresh_entry).
"""

from __future__ import annotations

from typing import Any

from core.clock import now
from core.errors import BadInput, Conflict, Forbidden, NotFound
from services.competitions import panel, results, store
from services.competitions.access import loaded
from services.competitions.model import STATUSES, Competition
from services.competitions.scoring import judge_total
from services.editors import audit
from services.editors.accounts import Editor
from services.orgs import store as orgs


async def _audit(deps: Any, editor: Editor, comp: Competition, summary: str, after: Any) -> None:
    """Judges' actions go to the audit log like editors' (the blind code, never the entrant's name)."""
    await audit.record(
        deps.db,
        editor,
        "create",
        "competition",
        comp.id,
        comp.org_path,
        summary=f"{comp.title}：{summary}",
        after=after,
    )


def require_judge(editor: Editor) -> None:
    if editor.role != "judge":
        raise Forbidden("只有评委账号可以查看评审任务和评分", code="judge_only")


def _criteria(comp: Competition) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "weight": c.weight, "min": c.min, "max": c.max} for c in comp.rubric]


async def my_tasks(deps: Any, editor: Editor) -> list[dict[str, Any]]:
    """Per competition the judge sits on: the rubric and their blind codes with scored/pending."""
    require_judge(editor)
    out = []
    for cid in await store.judged_competitions(deps.db, editor.username):
        comp = await loaded(deps.db, cid)
        mine = await store.assignments(deps.db, cid, judge=editor.username)
        scored = {s["entry"]: s for s in await store.scores(deps.db, cid, judge=editor.username)}
        recused = await store.entries_recused_by(deps.db, cid, editor.username)
        tasks = [
            {
                "code": a["blind_code"],
                "recused": a["entry"] in recused,
                "scored": a["entry"] in scored,
                "submitted_at": scored[a["entry"]]["submitted_at"] if a["entry"] in scored else None,
                "total": scored[a["entry"]].get("total") if a["entry"] in scored else None,
            }
            for a in sorted(mine, key=lambda a: a["blind_code"])
        ]
        out.append(
            {
                "id": cid,
                "title": comp.title,
                "status": comp.status,
                "status_name": STATUSES[comp.status],
                "criteria": _criteria(comp),
                "tasks": tasks,
                "done": sum(t["scored"] for t in tasks),
            }
        )
    return out


def check_values(comp: Competition, values: Any) -> dict[str, float]:
    if not isinstance(values, dict):
        raise BadInput("评分格式不正确，应为每项评分标准的分数", code="invalid_scores")
    unknown = set(values) - set(comp.criteria)
    if unknown:
        raise BadInput(f"评分标准「{sorted(unknown)[0]}」不存在", code="invalid_scores")
    out = {}
    for c in comp.rubric:
        v = values.get(c.id)
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                v = None
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise BadInput(f"请为「{c.name}」打分", code="invalid_scores")
        if not c.min <= v <= c.max:
            raise BadInput(f"「{c.name}」的分数应在 {c.min:g} 到 {c.max:g} 分之间", code="score_out_of_range")
        out[c.id] = float(v)
    return out


async def submit(deps: Any, editor: Editor, cid: str, code: str, values: Any) -> dict[str, Any]:
    require_judge(editor)
    comp = await loaded(deps.db, cid)
    entry = await store.entry_by_code(deps.db, cid, code) if isinstance(code, str) else None
    task = await store.assignment(deps.db, cid, entry["_id"], editor.username) if entry else None
    if entry is None or task is None:
        raise Forbidden("该参赛编号不在您的评审任务中", code="not_assigned")
    if editor.username in (entry.get("recused") or ()):
        raise Conflict("您已申请回避该作品，不能再评分", code="recused")
    reopened = comp.status == "publicity" and task["round"] > 1
    if comp.status != "judging" and not reopened:
        raise Conflict(f"竞赛当前为「{STATUSES[comp.status]}」，不在评审阶段", code="not_judging")
    checked = check_values(comp, values)
    row = {
        "_id": f"{cid}:{entry['_id']}:{editor.username}",
        "competition": cid,
        "entry": entry["_id"],
        "judge": editor.username,
        "values": checked,
        "total": round(float(judge_total(comp.rubric, checked)), 4),
        "round": task["round"],
        "submitted_at": now(),
    }
    if not await store.insert_score(deps.db, row):
        raise Conflict("您已提交过该作品的评分，提交后不能修改", code="already_scored")
    await results.refresh_entry(deps.db, comp, entry)
    await _audit(deps, editor, comp, f"评委 {editor.username} 提交 {code} 的评分", row)
    return {"code": code, "values": checked, "total": row["total"], "submitted_at": row["submitted_at"]}


async def recuse(deps: Any, editor: Editor, cid: str, code: Any, reason: Any) -> dict[str, Any]:
    """A judge steps back from an assigned entry before scoring it (they recognise the unit in its reports).

    The recusal is listed on the entry (permanent, audited) and a replacement judge — eligible, never on
    the entry, least loaded — takes the place; a re-run after a crash only adds the missing replacement.
    A score that raced in from the same judge is not counted (results exclude recused judges' rows).
    """
    require_judge(editor)
    comp = await loaded(deps.db, cid)
    if comp.status != "judging":
        raise Conflict(f"竞赛当前为「{STATUSES[comp.status]}」，不在评审阶段", code="not_judging")
    entry = await store.entry_by_code(deps.db, cid, code) if isinstance(code, str) else None
    task = await store.assignment(deps.db, cid, entry["_id"], editor.username) if entry else None
    if entry is None or task is None:
        raise Forbidden("该参赛编号不在您的评审任务中", code="not_assigned")
    if not isinstance(reason, str) or not 2 <= len(reason.strip()) <= 200:
        raise BadInput("请说明回避理由（2 到 200 字）", code="invalid_field")
    already = editor.username in (entry.get("recused") or ())
    if not already and await store.scores(deps.db, cid, entry["_id"], editor.username):
        raise Conflict("您已提交该作品的评分，不能再申请回避", code="already_scored")
    recused = {*(entry.get("recused") or ()), editor.username}
    active = [a for a in await store.assignments(deps.db, cid, entry=entry["_id"]) if a["judge"] not in recused]
    # the replacement is found before anything changes: no replacement, no recusal (ask the owner for judges)
    replacement = await panel.pick_fresh_judge(deps, comp, entry) if len(active) < comp.rules.judges_per_entry else ""
    entry = await store.move_entry(deps.db, entry["_id"], {}, {"$addToSet": {"recused": editor.username}}) or entry
    if replacement:
        await panel.add_judge_to_entry(deps, comp, entry, replacement, task["round"])
    await results.refresh_entry(deps.db, comp, entry)
    if not already:
        after = {"code": code, "reason": reason.strip(), "replacement": replacement}
        await _audit(deps, editor, comp, f"评委 {editor.username} 申请回避 {code}", after)
    return {"code": code, "recused": True}


async def declare_conflicts(deps: Any, editor: Editor, cid: str, org_codes: Any) -> list[str]:
    """A judge names units they must not judge (a former employer ...) before judges are assigned.

    Declarations only add (never remove) and are kept on the judge's panel record, which the
    assignment reads; after assignment it is the owner's appeal/decision path that re-opens judging.
    """
    require_judge(editor)
    comp = await loaded(deps.db, cid)
    if await store.judge(deps.db, cid, editor.username) is None:
        raise NotFound("您不是该竞赛的评委", code="not_a_judge")
    if comp.status not in ("registration", "in_progress"):
        raise Conflict("评委已分配，不能再申报回避；如有利益冲突请联系主办工会", code="too_late")
    codes = org_codes if isinstance(org_codes, list) else None
    if not codes or len(codes) > 50 or not all(isinstance(c, str) and 1 <= len(c) <= 40 for c in codes):
        raise BadInput("请填写需要回避的单位编码（1 到 50 个）", code="invalid_field")
    for code in codes:
        if await orgs.get(deps.db, code) is None:
            raise BadInput(f"单位编码「{code}」不存在", code="invalid_field")
    saved = await store.add_conflicts(deps.db, cid, editor.username, codes)
    await _audit(deps, editor, comp, f"评委 {editor.username} 申报回避 {len(codes)} 个单位", {"conflicts": codes})
    return list((saved or {}).get("conflicts") or [])


async def task_detail(deps: Any, editor: Editor, cid: str, code: str) -> dict[str, Any]:
    """What a judge sees of one entry: its blind code, its stage reports' text and figures, no name."""
    require_judge(editor)
    comp = await loaded(deps.db, cid)
    entry = await store.entry_by_code(deps.db, cid, code)
    if entry is None or await store.assignment(deps.db, cid, entry["_id"], editor.username) is None:
        raise NotFound("该参赛编号不在您的评审任务中", code="not_assigned")
    reports = [r for r in await store.reports(deps.db, cid) if r["entry"] == entry["_id"]]
    mine = await store.scores(deps.db, cid, entry["_id"], editor.username)
    return {
        "competition": {"id": cid, "title": comp.title, "criteria": _criteria(comp)},
        "code": code,
        "reports": [{"stage": r["stage"], "text": r["text"], "figures": r["figures"]} for r in reports],
        "score": mine[0]["values"] if mine else None,
    }
