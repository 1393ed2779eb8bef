"""Editors' side of surveys: create, edit, publish, close, delete, and read the results.

Every function takes `editor_org`, the org code the editor administers: they manage surveys owned by that
org or below it (`None` means the system itself, e.g. seeds and tests). The console UI calls these.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from core.clock import now
from core.deps import Deps
from core.errors import BadInput, Conflict, Forbidden, NotFound
from services.orgs import store as orgs
from services.orgs import visibility
from services.surveys import store as repo
from services.surveys.questions import InvalidDefinition, normalize_questions, parse_time
from storage.item_cache import changed

FIELDS = {
    "org", "title", "description", "questions", "opens_at", "closes_at",
    "max_responses_per_user", "anonymous", "members_only",
}  # fmt: skip
EDITABLE_AFTER_PUBLISH = {"title", "description", "closes_at"}
RESULTS_TTL_OPEN, RESULTS_TTL_CLOSED = 30, 3600
CACHE = "surveys.cache"


async def check_scope(deps: Deps, org_code: Any, editor_org: str | None, what: str = "问卷") -> list[str]:
    """The owning org exists and lies in the editor's subtree; returns its path (stored as `org_path`)."""
    org = await orgs.get(deps.db, org_code) if isinstance(org_code, str) else None
    if org is None:
        raise BadInput(f"所属组织「{org_code}」不存在，请从组织列表中选择", code="unknown_org")
    if editor_org is not None and not visibility.editor_can_manage(editor_org, org.path):
        raise Forbidden(f"只能管理本组织及下级组织的{what}", code="out_of_scope")
    return list(org.path)


def _flag(data: dict[str, Any], key: str, errors: dict[str, str]) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        errors[key] = "应为 true 或 false"
        return False
    return value


def clean_definition(data: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A validated survey definition: `data` merged over `base` (the stored survey when editing)."""
    if not isinstance(data, dict):
        raise BadInput("问卷定义应为 JSON 对象", code="invalid_definition")
    unknown = [k for k in data if k not in FIELDS]
    if unknown:
        raise InvalidDefinition({k: "不认识的字段，请删除" for k in unknown})
    merged = {**(base or {}), **data}
    errors: dict[str, str] = {}
    out: dict[str, Any] = {"org": merged.get("org")}
    title = merged.get("title")
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 100:
        errors["title"] = "标题不能为空，且不超过 100 字"
    out["title"] = title.strip() if isinstance(title, str) else ""
    desc = merged.get("description", "")
    if not isinstance(desc, str) or len(desc) > 2000:
        errors["description"] = "说明应为文字，且不超过 2000 字"
    out["description"] = desc if isinstance(desc, str) else ""
    for key, label in (("opens_at", "开始时间"), ("closes_at", "截止时间")):
        try:
            out[key] = parse_time(merged.get(key), label)
        except BadInput as exc:
            errors[key] = exc.message
    if "opens_at" in out and "closes_at" in out and out["closes_at"] <= out["opens_at"]:
        errors["closes_at"] = "截止时间应晚于开始时间"
    limit = merged.get("max_responses_per_user", 1)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 100:
        errors["max_responses_per_user"] = "每人可提交次数应为 1 到 100 的整数（0 表示不限）"
    out["max_responses_per_user"] = limit
    out["anonymous"] = _flag(merged, "anonymous", errors)
    out["members_only"] = _flag(merged, "members_only", errors)
    try:
        out["questions"] = normalize_questions(merged.get("questions"))
    except InvalidDefinition as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidDefinition(errors)
    return out


async def create_survey(
    deps: Deps, data: dict[str, Any], *, editor_org: str | None, created_by: str = ""
) -> dict[str, Any]:
    """A new survey in status draft (invisible to users until published)."""
    clean = clean_definition(data)
    clean["org_path"] = await check_scope(deps, clean["org"], editor_org)
    at = now()
    doc = {"_id": "sv" + secrets.token_hex(6), **clean, "status": "draft", "created_at": at, "updated_at": at}
    doc["created_by"] = created_by
    await repo.insert(deps.db, doc)
    return doc


async def _owned(deps: Deps, survey_id: str, editor_org: str | None) -> dict[str, Any]:
    doc = await repo.get(deps.db, survey_id)
    if doc is None:
        raise NotFound("问卷不存在或已删除", code="survey_not_found")
    await check_scope(deps, doc["org"], editor_org)
    return doc


async def update_survey(deps: Deps, survey_id: str, data: dict[str, Any], *, editor_org: str | None) -> dict[str, Any]:
    """Edit a draft freely; once published only the title, description and closing time may change."""
    doc = await _owned(deps, survey_id, editor_org)
    if doc["status"] != "draft":
        locked = [k for k in data if k not in EDITABLE_AFTER_PUBLISH]
        if locked:
            raise Conflict("问卷已发布，只能修改标题、说明和截止时间；如需调整题目请新建问卷", code="survey_locked")
    clean = clean_definition(data, base={k: v for k, v in doc.items() if k in FIELDS})
    changes = {k: clean[k] for k in FIELDS if k in data} | {"updated_at": now()}
    if clean["org"] != doc["org"]:
        changes["org_path"] = await check_scope(deps, clean["org"], editor_org)
    updated = await repo.update(deps.db, survey_id, changes, expect_status=[doc["status"]])
    if updated is None:
        raise Conflict("问卷状态刚刚发生了变化，请刷新后重试", code="survey_changed")
    await changed(deps, CACHE, survey_id)
    return updated


async def publish_survey(deps: Deps, survey_id: str, *, editor_org: str | None) -> dict[str, Any]:
    doc = await _owned(deps, survey_id, editor_org)
    if doc["status"] == "published":
        return doc
    if doc["closes_at"] <= now():
        raise Conflict("截止时间已过，请先修改截止时间再发布", code="survey_expired")
    updated = await repo.update(
        deps.db, survey_id, {"status": "published", "published_at": now()}, expect_status=["draft"]
    )
    if updated is None:
        raise Conflict("只有草稿状态的问卷可以发布", code="survey_not_draft")
    await changed(deps, CACHE, survey_id)
    return updated


async def close_survey(deps: Deps, survey_id: str, *, editor_org: str | None) -> dict[str, Any]:
    await _owned(deps, survey_id, editor_org)
    updated = await repo.update(
        deps.db, survey_id, {"status": "closed", "closed_at": now()}, expect_status=["published", "closed"]
    )
    if updated is None:
        raise Conflict("只有已发布的问卷可以关闭", code="survey_not_published")
    await changed(deps, CACHE, survey_id)
    return updated


async def delete_survey(deps: Deps, survey_id: str, *, editor_org: str | None) -> None:
    """Only drafts can be deleted: a published survey's responses are records; close it instead."""
    await _owned(deps, survey_id, editor_org)
    if not await repo.delete_draft_survey(deps.db, survey_id):
        raise Conflict("已发布的问卷不能删除，可以关闭问卷", code="survey_not_draft")
    await changed(deps, CACHE, survey_id)


def _tally(questions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for q in questions:
        t: dict[str, Any] = {"answered": 0}
        if q["type"] in ("single", "multiple"):
            t["options"] = {o["id"]: 0 for o in q["options"]}
        elif q["type"] == "rating":
            t["distribution"] = {v: 0 for v in range(q["scale_min"], q["scale_max"] + 1)}
            t["sum"] = 0
        elif q["type"] == "matrix":
            t["cells"] = {r["id"]: {c["id"]: 0 for c in q["columns"]} for r in q["rows"]}
        out[q["id"]] = t
    return out


def _count(t: dict[str, Any], qtype: str, value: Any) -> None:
    t["answered"] += 1
    if qtype == "single" and value in t["options"]:
        t["options"][value] += 1
    elif qtype == "multiple" and isinstance(value, list):
        for v in value:
            if v in t["options"]:
                t["options"][v] += 1
    elif qtype == "rating" and value in t["distribution"]:
        t["distribution"][value] += 1
        t["sum"] += value
    elif qtype == "matrix" and isinstance(value, dict):
        for row, col in value.items():
            if col in t["cells"].get(row, {}):
                t["cells"][row][col] += 1


def _shape(q: dict[str, Any], t: dict[str, Any]) -> dict[str, Any]:
    n = t["answered"]
    out: dict[str, Any] = {"id": q["id"], "type": q["type"], "title": q["title"], "answered": n}
    if "options" in t:
        out["options"] = [
            {
                "id": o["id"],
                "label": o["label"],
                "count": t["options"][o["id"]],
                "ratio": round(t["options"][o["id"]] / n, 4) if n else 0.0,
            }
            for o in q["options"]
        ]
    if "distribution" in t:
        out["distribution"] = [{"value": v, "count": c} for v, c in t["distribution"].items()]
        out["average"] = round(t["sum"] / n, 2) if n else None
    if "cells" in t:
        out["rows"] = [
            {
                "id": r["id"],
                "label": r["label"],
                "columns": [
                    {"id": c["id"], "label": c["label"], "count": t["cells"][r["id"]][c["id"]]} for c in q["columns"]
                ],
            }
            for r in q["rows"]
        ]
    return out


async def survey_results(deps: Deps, survey_id: str, *, editor_org: str | None, fresh: bool = False) -> dict[str, Any]:
    """Counts per option, matrix cell and rating value, in one streamed pass (cached briefly in Redis)."""
    doc = await _owned(deps, survey_id, editor_org)
    if not fresh:
        cached = await repo.results_cache_get(deps.redis, survey_id)
        if cached is not None:
            return cached
    tallies = _tally(doc["questions"])
    types = {q["id"]: q["type"] for q in doc["questions"]}
    total = 0
    async for answers in repo.iter_answers(deps.db, survey_id):
        total += 1
        for qid, value in answers.items():
            if qid in tallies:
                _count(tallies[qid], types[qid], value)
    results = {
        "survey_id": survey_id, "title": doc["title"], "responses": total, "computed_at": now().isoformat(),
        "questions": [_shape(q, tallies[q["id"]]) for q in doc["questions"]],
    }  # fmt: skip
    closed = doc["status"] == "closed" or doc["closes_at"] + timedelta(minutes=1) < now()
    await repo.results_cache_put(deps.redis, survey_id, results, RESULTS_TTL_CLOSED if closed else RESULTS_TTL_OPEN)
    return results


async def text_answers(
    deps: Deps, survey_id: str, question_id: str, *, editor_org: str | None, cursor: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """One page of a text question's answers, in submission order; `next` is the cursor of the next page."""
    doc = await _owned(deps, survey_id, editor_org)
    if not any(q["id"] == question_id and q["type"] == "text" for q in doc["questions"]):
        raise BadInput("该题不是填空题，没有文字答案", code="not_text_question")
    limit = max(1, min(limit, 200))
    rows = await repo.text_answers(deps.db, survey_id, question_id, cursor, limit)
    items = [{"id": r["_id"], "text": r["answers"][question_id], "submitted_at": r["submitted_at"]} for r in rows]
    return {"items": items, "next": rows[-1]["_id"] if len(rows) == limit else None}


async def list_surveys(deps: Deps, *, editor_org: str, limit: int = 200) -> list[dict[str, Any]]:
    """The surveys an editor manages (their org's subtree), newest first, without the questions."""
    return await repo.list_managed(deps.db, visibility.editor_filter(editor_org), limit)
