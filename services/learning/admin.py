"""Editors' learning console: create, edit (while draft), order units, publish, close — each audited —
and read the funnel per unit, completion by org (one level down per step) and the credit ledger."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict
from services.editors import audit
from services.editors.scope import Scope
from services.learning import store
from services.learning.definition import check_course, course_from_doc
from services.orgs import store as orgs

WHAT = "课程"
TRANSITIONS = {"publish": ("draft", "published"), "close": ("published", "closed")}


def new_id() -> str:
    """12 hex characters starting with the time, so ids sort like creation (the mini-program's cursor)."""
    return f"{int(time.time()):08x}{secrets.token_hex(2)}"


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    """A course without its quiz banks and answers (lists, audit entries)."""
    units = [{k: v for k, v in u.items() if k not in ("bank", "key", "body")} for u in doc.get("units", [])]
    return {**doc, "id": str(doc["_id"]), "units": units}


async def _get(deps: Deps, scope: Scope, course_id: str) -> dict[str, Any]:
    doc = await store.get_course(deps.db, course_id) if len(course_id) <= 32 else None
    return scope.check_doc(doc, WHAT)


async def get(deps: Deps, scope: Scope, course_id: str) -> dict[str, Any]:
    doc = await _get(deps, scope, course_id)
    return {**doc, "id": str(doc["_id"])}


async def list_for(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    return [_summary(d) for d in await store.courses_for_editor(deps.db, scope.org)]


async def create(deps: Deps, scope: Scope, raw: Any) -> dict[str, Any]:
    scope.require_write()
    fields = check_course(raw)
    owner = await scope.owner(deps.db, raw.get("org") if isinstance(raw, dict) else None)
    doc = {"_id": new_id(), "org": owner.code, "org_path": list(owner.path), "status": "draft", **fields,
           "created_at": now(), "created_by": scope.editor.username}  # fmt: skip
    await store.insert_course(deps.db, doc)
    await audit.record(deps.db, scope.editor, "create", "course", doc["_id"], owner.path,
                       summary=fields["title"], after=_summary(doc), ip=scope.ip)  # fmt: skip
    return {**doc, "id": doc["_id"]}


async def update(deps: Deps, scope: Scope, course_id: str, raw: Any) -> dict[str, Any]:
    """Replace a draft's definition (published courses keep their units: learners' progress refers to them)."""
    scope.require_write()
    before = await _get(deps, scope, course_id)
    fields = check_course(raw)
    after = await store.update_course(deps.db, course_id, {"status": "draft"}, {**fields, "updated_at": now()})
    if after is None:
        raise Conflict("课程已发布，只能调整单元顺序或下线", code="course_published")
    await audit.record(deps.db, scope.editor, "update", "course", course_id, before["org_path"],
                       summary=fields["title"], before=_summary(before), after=_summary(after),
                       ip=scope.ip)  # fmt: skip
    return {**after, "id": course_id}


async def reorder(deps: Deps, scope: Scope, course_id: str, unit_ids: Any) -> dict[str, Any]:
    scope.require_write()
    before = await _get(deps, scope, course_id)
    by_id = {u["id"]: u for u in before["units"]}
    if not isinstance(unit_ids, list) or sorted(map(str, unit_ids)) != sorted(by_id):
        raise BadInput("请提交全部单元 id 的新顺序（不增不减）", code="invalid_order")
    units = [by_id[u] for u in unit_ids]
    after = await store.update_course(deps.db, course_id, {"units": before["units"]}, {"units": units})
    if after is None:
        raise Conflict("课程刚被修改，请刷新后重试", code="course_changed")
    await audit.record(deps.db, scope.editor, "update", "course", course_id, before["org_path"],
                       summary=f"调整单元顺序：{before['title']}", before=[u["id"] for u in before["units"]],
                       after=list(unit_ids), ip=scope.ip)  # fmt: skip
    return {**after, "id": course_id}


async def set_status(deps: Deps, scope: Scope, course_id: str, action: str) -> dict[str, Any]:
    scope.require_write()
    before = await _get(deps, scope, course_id)
    if action not in TRANSITIONS:
        raise BadInput("操作只能是 publish 或 close", code="invalid_action")
    src, dst = TRANSITIONS[action]
    stamp = {"published_at": now()} if action == "publish" else {"closed_at": now()}
    after = await store.update_course(deps.db, course_id, {"status": src}, {"status": dst, **stamp})
    if after is None:
        raise Conflict(
            "只能发布草稿状态的课程" if action == "publish" else "只能下线已发布的课程", code="invalid_status"
        )
    await audit.record(deps.db, scope.editor, action, "course", course_id, before["org_path"],
                       summary=before["title"], before={"status": src}, after={"status": dst}, ip=scope.ip)  # fmt: skip
    return {**after, "id": course_id}


async def funnel(deps: Deps, scope: Scope, course_id: str) -> dict[str, Any]:
    """Per unit in order: learners who started it and who finished it (quiz units: passed)."""
    course = course_from_doc(await _get(deps, scope, course_id))
    counts = await store.unit_funnel(deps.db, course.id)
    takers = await store.quiz_takers(deps.db, course.id)
    done_by_unit = await store.units_done_counts(deps.db, course.id)
    rows = []
    for u in course.units:
        started = counts.get(u.id, (0, 0))[0] if u.kind == "video" else takers.get(u.id, 0)
        done = done_by_unit.get(u.id, 0)
        rows.append({"unit": u.id, "kind": u.kind, "title": u.title, "started": max(started, done), "done": done})
    enrolled = await store.count_enrolled(deps.db, course.id)
    return {"course": course.id, "enrolled": enrolled, "units": rows}


async def anomalies(deps: Deps, scope: Scope, course_id: str) -> list[dict[str, Any]]:
    """Learners whose heartbeats claimed over a minute more than wall-clock time allowed (seeking ahead,
    replays) or sent ten or more heartbeats inside the 10 s gate (parallel tabs): none of it was credited."""
    course = course_from_doc(await _get(deps, scope, course_id))
    rows = await store.anomalies(deps.db, course.id, 60, 10, 100)
    return [{"openid": r["openid"], "unit": r["unit"], "refused_seconds": int(r.get("refused_s", 0)),
             "uncounted_heartbeats": int(r.get("skipped", 0)), "covered_seconds": int(r.get("cov", 0))}
            for r in rows]  # fmt: skip


async def completion(deps: Deps, scope: Scope, org: str, course_id: str = "") -> dict[str, Any]:
    """Enrolled / completed per org one level below `org` (click a row to drill down, to the fifth level)."""
    here = await scope.owner(deps.db, org or scope.org)
    if course_id:
        await _get(deps, scope, course_id)
    field = f"org_path.{len(here.path)}"
    rows = await store.completion_by(deps.db, course_id or None, field, here.code)
    names = {c.code: c.name for c in await orgs.children(deps.db, here.code)}
    items = [
        {"org": r["_id"] or here.code, "name": names.get(r["_id"], "本级直属") if r["_id"] else "本级直属",
         "enrolled": r["enrolled"], "completed": r["completed"],
         "rate": round(r["completed"] / r["enrolled"], 3) if r["enrolled"] else 0.0}
        for r in rows
    ]  # fmt: skip
    return {"org": here.code, "name": here.name, "items": items}


async def quiz_ranking(deps: Deps, scope: Scope, course_id: str, unit_id: str, org: str) -> dict[str, Any]:
    """A campaign quiz (e.g. 安康杯): participation and passes per org one level below `org`, most first."""
    course = course_from_doc(await _get(deps, scope, course_id))
    unit = course.unit(unit_id)
    if unit is None or unit.kind != "quiz":
        raise BadInput("请选择课程中的测验单元", code="invalid_unit")
    here = await scope.owner(deps.db, org or scope.org)
    rows = await store.quiz_participation(deps.db, course.id, unit.id, f"org_path.{len(here.path)}", here.code)
    names = {c.code: c.name for c in await orgs.children(deps.db, here.code)}
    items = [{"rank": i, "org": r["_id"] or here.code,
              "name": names.get(r["_id"], "本级直属") if r["_id"] else "本级直属",
              "took": r["took"], "passed": r["passed"]} for i, r in enumerate(rows, 1)]  # fmt: skip
    return {"org": here.code, "name": here.name, "unit": unit.id, "items": items}


LEDGER_HEADER = ["会员编号", "姓名", "所属工会", "年度", "学时合计", "完成课程数"]


async def ledger_rows(deps: Deps, scope: Scope, year: int) -> AsyncIterator[list[Any]]:
    """The credit ledger of the working org's subtree for `year`: one row per learner (for 评先)."""
    if not 2000 <= year <= 2100:
        raise BadInput("年份应为 2000 到 2100 之间的整数", code="invalid_year")
    yield LEDGER_HEADER
    async for r in store.ledger(deps.db, scope.org, year):
        yield [
            r.get("member_id") or "",
            r.get("name") or "",
            r.get("org") or "",
            year,
            round(r["hours"], 1),
            r["courses"],
        ]
