"""Surveys in the console: over services.surveys.definitions (definitions, status, results), adding the form
parsing, the scope check, idempotent creation, the audit log and the exports (results and responses)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from functools import partial
from typing import Any

from core.deps import Deps
from services.editors import audited
from services.editors.scope import Scope
from services.surveys import definitions as survey_admin
from services.surveys import store as repo
from services.surveys.questions import TYPE_NAMES, InvalidDefinition

KIND = audited.Kind("survey", "问卷")


def from_form(form: dict[str, str]) -> dict[str, Any]:
    try:
        questions = json.loads(form.get("questions") or "[]")
    except ValueError:
        raise InvalidDefinition({"questions": "题目的 JSON 格式不正确，请检查括号和引号"}) from None
    try:
        limit = int(form.get("max_responses_per_user") or "1")
    except ValueError:
        raise InvalidDefinition({"max_responses_per_user": "每人可提交次数应为整数"}) from None
    data: dict[str, Any] = {
        "title": form.get("title", ""),
        "description": form.get("description", ""),
        "questions": questions,
        "max_responses_per_user": limit,
        "anonymous": form.get("anonymous") == "1",
        "members_only": form.get("members_only") == "1",
    }
    for key in ("opens_at", "closes_at"):
        if form.get(key):
            data[key] = form[key]
    return data


async def create(deps: Deps, scope: Scope, data: dict[str, Any], form_key: str = "") -> dict[str, Any]:
    def store(doc: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        return survey_admin.create_survey(deps, doc, editor_org=scope.root, created_by=scope.editor.username)

    return await get(deps, scope, await audited.create(deps, scope, KIND, data, form_key, store))


async def get(deps: Deps, scope: Scope, survey_id: str) -> dict[str, Any]:
    return scope.check_doc(await repo.get(deps.db, survey_id), "问卷")


async def update(deps: Deps, scope: Scope, survey_id: str, data: dict[str, Any]) -> dict[str, Any]:
    def store(changes: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        return survey_admin.update_survey(deps, survey_id, changes, editor_org=scope.root)

    return await audited.update(deps, scope, KIND, partial(get, deps, scope, survey_id), data, store)


async def act(deps: Deps, scope: Scope, survey_id: str, action: str) -> dict[str, Any] | None:
    async def delete() -> None:
        await survey_admin.delete_survey(deps, survey_id, editor_org=scope.root)

    actions: dict[str, audited.Action] = {
        "publish": partial(survey_admin.publish_survey, deps, survey_id, editor_org=scope.root),
        "close": partial(survey_admin.close_survey, deps, survey_id, editor_org=scope.root),
        "delete": delete,
    }
    return await audited.act(deps, scope, KIND, partial(get, deps, scope, survey_id), action, actions)


async def list_for(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    rows = await survey_admin.list_surveys(deps, editor_org=scope.org)
    return [r for r in rows if scope.covers(r.get("org_path"))]


async def results(deps: Deps, scope: Scope, survey_id: str, fresh: bool = False) -> dict[str, Any]:
    await get(deps, scope, survey_id)
    return await survey_admin.survey_results(deps, survey_id, editor_org=scope.root, fresh=fresh)


async def text_answers(deps: Deps, scope: Scope, survey_id: str, qid: str, cursor: str | None) -> dict[str, Any]:
    await get(deps, scope, survey_id)
    return await survey_admin.text_answers(deps, survey_id, qid, editor_org=scope.root, cursor=cursor)


def result_rows(res: dict[str, Any]) -> list[list[Any]]:
    """Header + one row per option / rating value / matrix cell: the results sheet."""
    rows: list[list[Any]] = [["题号", "题目", "题型", "选项", "人数", "占比"]]
    for n, q in enumerate(res["questions"], 1):
        kind = TYPE_NAMES.get(q["type"], q["type"])
        answered = q["answered"]
        if "options" in q:
            for o in q["options"]:
                rows.append([n, q["title"], kind, o["label"], o["count"], f"{100 * o['ratio']:.1f}%"])
        elif "distribution" in q:
            for d in q["distribution"]:
                share = f"{100 * d['count'] / answered:.1f}%" if answered else "0.0%"
                rows.append([n, q["title"], kind, f"{d['value']} 分", d["count"], share])
            rows.append([n, q["title"], kind, "平均分", q.get("average") or "", ""])
        elif "rows" in q:
            for r in q["rows"]:
                for c in r["columns"]:
                    rows.append([n, q["title"], kind, f"{r['label']} / {c['label']}", c["count"], ""])
        else:
            rows.append([n, q["title"], kind, "（填写人数）", answered, ""])
    return rows


async def response_rows(deps: Deps, scope: Scope, survey_id: str) -> AsyncIterator[list[Any]]:
    """Header + one row per response, answers as the labels people read; streamed."""
    survey = await get(deps, scope, survey_id)
    questions = survey["questions"]
    header = ["序号", "提交时间"] + ([] if survey.get("anonymous") else ["会员编号", "所属工会"])
    yield header + [f"{n}. {q['title']}" for n, q in enumerate(questions, 1)]
    fields = {"answers": 1, "submitted_at": 1, "member_id": 1, "org": 1}
    cursor = deps.db.survey_responses.find({"survey_id": survey_id}, fields, batch_size=1000).sort("_id", 1)
    n = 0
    async for doc in cursor:
        n += 1
        who = [] if survey.get("anonymous") else [doc.get("member_id") or "", doc.get("org") or ""]
        answers = doc.get("answers") or {}
        yield [n, doc.get("submitted_at"), *who, *(answer_label(q, answers.get(q["id"])) for q in questions)]


def answer_label(q: dict[str, Any], value: Any) -> Any:
    if value is None:
        return ""
    names = {o["id"]: o["label"] for o in q.get("options") or []}
    if q["type"] == "single":
        return names.get(value, value)
    if q["type"] == "multiple" and isinstance(value, list):
        return "、".join(str(names.get(v, v)) for v in value)
    if q["type"] == "matrix" and isinstance(value, dict):
        rows = {r["id"]: r["label"] for r in q.get("rows") or []}
        cols = {c["id"]: c["label"] for c in q.get("columns") or []}
        return "；".join(f"{rows.get(r, r)}：{cols.get(c, c)}" for r, c in value.items())
    return value
