"""Polls in the console: over the votes engineer's services.polls.definitions (which enforces the editor's subtree
itself), adding the console's form parsing, the scope check, idempotent creation and the audit log."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from functools import partial
from typing import Any

from core.deps import Deps
from core.errors import BadInput
from services.editors import audited
from services.editors.scope import Scope
from services.polls import definitions as polls
from services.surveys.questions import parse_time

KIND = audited.Kind("poll", "投票")


def from_form(form: dict[str, str], options: list[str]) -> dict[str, Any]:
    """A poll definition from the console form: one option per line, Beijing-time datetimes."""
    data: dict[str, Any] = {
        "title": form.get("title", ""),
        "description": form.get("description", ""),
        "cover_url": form.get("cover_url", ""),
        "multiple": form.get("multiple") == "1",
        "members_only": form.get("members_only") == "1",
        "options": [{"title": o} for o in options if o],
    }
    data["max_choices"] = _int(form.get("max_choices") or "1", "最多可选项数", "max_choices")
    data["limit"] = {
        "per": form.get("limit_per", "poll"),
        "count": _int(form.get("limit_count") or "1", "每人投票次数", "limit_count"),
    }
    for key, label in (("opens_at", "开始时间"), ("closes_at", "结束时间")):
        if form.get(key):
            data[key] = parse_time(form[key], label)
    if "closes_at" not in data:
        raise BadInput("请设置结束时间", code="closes_at")
    return data


def options_from_text(text: str) -> list[str]:
    return [line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()]


def _int(value: str, label: str, code: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadInput(f"{label}应为整数", code=code) from None


def from_json(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON API sends times as ISO 8601 text; the poll service wants datetimes."""
    data = dict(body)
    for key, label in (("opens_at", "开始时间"), ("closes_at", "结束时间")):
        if isinstance(data.get(key), str):
            data[key] = parse_time(data[key], label)
    return data


async def create(deps: Deps, scope: Scope, data: dict[str, Any], form_key: str = "") -> dict[str, Any]:
    def store(doc: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        return polls.create(deps, scope.root, doc, scope.editor.username)

    return await get(deps, scope, await audited.create(deps, scope, KIND, data, form_key, store))


async def get(deps: Deps, scope: Scope, poll_id: str) -> dict[str, Any]:
    poll = await polls.get_for_editor(deps, scope.root, poll_id)
    return scope.check_doc(poll, "投票")


async def update(deps: Deps, scope: Scope, poll_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    def store(checked: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        return polls.update(deps, scope.root, poll_id, checked)

    return await audited.update(deps, scope, KIND, partial(get, deps, scope, poll_id), changes, store)


async def set_status(deps: Deps, scope: Scope, poll_id: str, action: str) -> dict[str, Any]:
    actions: dict[str, audited.Action] = {
        "publish": partial(polls.publish, deps, scope.root, poll_id),
        "close": partial(polls.close, deps, scope.root, poll_id),
    }
    after = await audited.act(deps, scope, KIND, partial(get, deps, scope, poll_id), action, actions)
    assert after is not None  # polls are never deleted
    return after


async def list_for(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    return [p for p in await polls.list_for_editor(deps, scope.org) if scope.covers(p.get("org_path"))]


async def results(deps: Deps, scope: Scope, poll_id: str) -> dict[str, Any]:
    await get(deps, scope, poll_id)
    return await polls.results(deps, scope.root, poll_id)


def result_rows(res: dict[str, Any]) -> list[list[Any]]:
    """Header + one row per option (rank order): for the chart, CSV and Excel."""
    total = sum(r["count"] for r in res["ranking"])
    rows: list[list[Any]] = [["排名", "选项", "票数", "占比"]]
    for r in res["ranking"]:
        share = f"{100 * r['count'] / total:.1f}%" if total else "0.0%"
        rows.append([r["rank"], r["title"], r["count"], share])
    return rows
