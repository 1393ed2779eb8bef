"""Editors running a competition: create, 立项 by the parent org, the stages of its lifecycle, news.

Every change is a guarded status move (one winner when two editors click at once) followed by an
audit entry. Judges and assignment live in panel.py, results and commendations in closing.py.
"""

from __future__ import annotations

from typing import Any

from core.clock import now
from core.errors import BadInput, Conflict, Forbidden
from services.competitions import store
from services.competitions.access import loaded, new_id, owned, record, require_status
from services.competitions.model import KINDS, MAX_TEXT, STATUSES, Competition, parse_new
from services.editors import once as console_once
from services.editors.scope import Scope
from services.surveys import store as survey_store

OWNER_LEVELS = ("province", "city", "county")


async def create(deps: Any, scope: Scope, data: dict[str, Any], form_key: str = "") -> Competition:
    """A draft competition; a repeated `form_key` (form resubmit, JSON Idempotency-Key) returns the first one."""
    scope.require_write()

    async def make() -> str:
        return (await _create(deps, scope, data)).id

    cid, _ = await console_once.once(deps.redis, scope.editor.username, "competition", form_key or None, make)
    return await loaded(deps.db, cid)


async def _create(deps: Any, scope: Scope, data: dict[str, Any]) -> Competition:
    if not isinstance(data, dict):
        raise BadInput("请求格式不正确", code="invalid_body")
    fields = parse_new(data)
    owner = await scope.owner(deps.db, data.get("org"))
    if owner.level not in OWNER_LEVELS:
        raise BadInput("竞赛只能由省、市、县（区）总工会立项", code="invalid_org")
    for stage in fields["stages"]:
        await _check_quiz(deps, owner.code, owner.path, stage["quiz_survey"])
    doc = {
        "_id": new_id(),
        **fields,
        "org": owner.code,
        "org_path": list(owner.path),
        "status": "draft",
        "created_by": scope.editor.username,
        "created_at": now(),
    }
    await store.insert_competition(deps.db, doc)
    comp = await loaded(deps.db, doc["_id"])
    await record(deps.db, scope, "create", comp, f"新建{KINDS[comp.kind]}，待上级工会立项", after=doc)
    return comp


async def _check_quiz(deps: Any, owner: str, owner_path: tuple[str, ...], survey_id: str) -> None:
    """A stage's safety quiz is a survey the participants can see: owned on the owner's path or below it."""
    if not survey_id:
        return
    survey = await survey_store.get(deps.db, survey_id)
    if survey is None or not (survey.get("org") in owner_path or owner in (survey.get("org_path") or ())):
        raise BadInput(f"知识竞答问卷「{survey_id}」不存在或参赛职工看不到", code="invalid_field")


async def approve(deps: Any, scope: Scope, cid: str) -> Competition:
    """立项: an editor of an org above the owner (its parent or higher); the province approves its own."""
    doc, comp = await owned(deps.db, scope, cid)
    scope.require_write()
    above = comp.org_path[:-1]
    if (above and scope.editor.org not in above) or (not above and not scope.editor.is_admin):
        raise Forbidden("立项需由上级工会审批，本级工会不能为自己的竞赛立项", code="parent_only")
    require_status(comp, "draft")
    changes = {"status": "registration", "approved_by": scope.editor.username, "approved_at": now()}
    if await store.move_competition(deps.db, cid, "draft", changes) is None:
        raise Conflict("竞赛状态已变化，请刷新后重试", code="stale")
    await record(deps.db, scope, "approve", comp, "立项通过，开始报名", before={"status": "draft"}, after=changes)
    return await loaded(deps.db, cid)


async def start_stages(deps: Any, scope: Scope, cid: str) -> Competition:
    """Registration closes and the competition runs its stages (reports come in)."""
    return await _move(deps, scope, cid, "registration", "in_progress", "报名结束，竞赛进行中")


async def _move(deps: Any, scope: Scope, cid: str, src: str, dst: str, summary: str, **extra: Any) -> Competition:
    _, comp = await owned(deps.db, scope, cid)
    scope.require_write()
    require_status(comp, src)
    changes = {"status": dst, f"{dst}_at": now(), **extra}
    if await store.move_competition(deps.db, cid, src, changes) is None:
        raise Conflict("竞赛状态已变化，请刷新后重试", code="stale")
    await record(deps.db, scope, "update", comp, summary, before={"status": src}, after=changes)
    return await loaded(deps.db, cid)


async def move(deps: Any, scope: Scope, cid: str, src: str, dst: str, summary: str, **extra: Any) -> Competition:
    """A guarded lifecycle step by the owner's editors (used by panel.py and closing.py)."""
    if STATUSES.get(src) is None or STATUSES.get(dst) is None:
        raise BadInput("未知的竞赛阶段", code="invalid_field")
    return await _move(deps, scope, cid, src, dst, summary, **extra)


async def listing(deps: Any, scope: Scope) -> list[dict[str, Any]]:
    """Competitions of the working org's subtree (with those waiting for 立项 from this level)."""
    rows = await store.competitions_under(deps.db, scope.org)
    return [{**r, "status_name": STATUSES[r["status"]], "kind_name": KINDS[r["kind"]]} for r in rows]


async def open_to_me(deps: Any, scope: Scope) -> list[dict[str, Any]]:
    """Competitions of the unions above the working org that take registrations now (for entrants)."""
    here = await scope.owner(deps.db)
    rows = await store.open_for_registration(deps.db, here.path)
    keep = ("_id", "title", "kind", "org", "registration_deadline", "stages")
    return [{**{k: r[k] for k in keep}, "kind_name": KINDS[r["kind"]]} for r in rows]


async def post_news(deps: Any, scope: Scope, cid: str, stage: str, title: Any, text: Any) -> dict[str, Any]:
    _, comp = await owned(deps.db, scope, cid)
    scope.require_write()
    require_status(comp, "registration", "in_progress", "judging", "publicity", "final")
    if stage and stage not in {s.id for s in comp.stages}:
        raise BadInput("竞赛阶段不存在", code="invalid_field")
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 60:
        raise BadInput("请填写标题（不超过 60 字）", code="invalid_field")
    if not isinstance(text, str) or not 1 <= len(text.strip()) <= MAX_TEXT:
        raise BadInput(f"请填写内容（不超过 {MAX_TEXT} 字）", code="invalid_field")
    doc: dict[str, Any] = {"_id": new_id(), "competition": cid, "stage": stage, "title": title.strip()}
    doc |= {"text": text.strip(), "at": now()}
    await store.insert_news(deps.db, doc)
    await record(deps.db, scope, "publish", comp, f"发布动态「{doc['title']}」", after=doc)
    return doc
