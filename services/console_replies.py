"""Automatic replies in the console: keyword rules, welcome, default reply and menu-click replies, per org.

Built on the bot engineer's content model (services.replies.store, validated and saved by
services.replies.edit, so what an editor saves is what the bot compiles). This module adds the
console's rules: the org scope, an optimistic version check against concurrent edits, and the
audit log. A city's content overrides the province's for that city's followers; the console
shows and edits only the working org's own documents.
"""

from __future__ import annotations

import re
from typing import Any

from core.clock import localize
from core.deps import Deps
from core.errors import BadInput, Conflict, NotFound
from services.editors import audit
from services.editors.scope import Scope
from services.orgs import store as orgs
from services.replies import edit as bot_content_edit
from services.replies import store

KIND_NAMES = {"keyword": "关键词回复", "welcome": "关注欢迎语", "default": "默认回复", "click": "菜单点击回复"}
MATCH_NAMES = {"exact": "完全匹配", "prefix": "开头匹配", "contains": "包含匹配", "regex": "正则表达式"}
REPLY_TYPES = {"text": "文字", "news": "图文链接", "image": "图片（素材）", "transfer": "转人工客服"}
KEY_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
FORM_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


async def _org_path(deps: Deps, code: str) -> tuple[str, ...]:
    org = await orgs.get(deps.db, code)
    return org.path if org else ()


async def list_for(deps: Deps, scope: Scope) -> list[dict[str, Any]]:
    """The working org's own documents: keyword rules by priority, then the single ones."""
    docs = [d async for d in deps.db.bot_content.find({"org": scope.org})]
    order = {"welcome": 0, "default": 1, "click": 2, "keyword": 3}
    return sorted(docs, key=lambda d: (order.get(d.get("kind", ""), 9), -int(d.get("priority") or 0), d["_id"]))


async def get(deps: Deps, scope: Scope, doc_id: str) -> dict[str, Any]:
    doc = await store.get(deps.db, doc_id)
    if doc is None:
        raise NotFound("该回复不存在或不在您的管理范围内", code="not_found")
    scope.check(await _org_path(deps, str(doc.get("org") or "")), "该回复")
    return doc


def version_of(doc: dict[str, Any] | None) -> str:
    at = doc.get("updated_at") if doc else None
    return localize(at).isoformat() if at else ""


def from_form(form: dict[str, str], kind: str) -> dict[str, Any]:
    """The document a console form describes (the same shape the JSON API takes)."""
    reply_type = form.get("reply_type", "text")
    if reply_type not in REPLY_TYPES:
        raise BadInput("请选择回复类型", code="reply_type")
    reply: dict[str, Any] = {"type": reply_type}
    if reply_type == "text":
        reply["text"] = form.get("text", "")
    elif reply_type == "news":
        reply["articles"] = [{k: form.get(f"article_{k}", "") for k in ("title", "description", "url", "pic_url")}]
    elif reply_type == "image":
        reply["media_id"] = form.get("media_id", "")
    else:
        reply["kf_account"] = form.get("kf_account", "")
    doc: dict[str, Any] = {"kind": kind, "reply": reply, "enabled": form.get("enabled", "1") == "1"}
    doc["name"] = form.get("name", "")[:40]
    if kind == "keyword":
        doc["match"] = form.get("match", "exact")
        doc["patterns"] = [p.strip() for p in re.split(r"[\n,，、]+", form.get("patterns", "")) if p.strip()]
        try:
            doc["priority"] = int(form.get("priority") or 0)
        except ValueError:
            raise BadInput("优先级必须是整数", code="priority") from None
    if kind == "click":
        doc["key"] = form.get("key", "")
    return doc


async def save(
    deps: Deps,
    scope: Scope,
    data: dict[str, Any],
    *,
    doc_id: str | None = None,
    version: str = "",
    form_key: str = "",
) -> dict[str, Any]:
    """Create (doc_id None) or update a document of the working org; returns the stored document."""
    scope.require_write()
    kind = data.get("kind")
    before: dict[str, Any] | None = None
    if doc_id is not None:
        before = await get(deps, scope, doc_id)
        kind = before["kind"]
        if version and version != version_of(before):
            raise Conflict("该回复刚被其他人修改，请刷新页面后再改", code="edit_conflict")
    org = str(before["org"]) if before else scope.org
    org_path = await _org_path(deps, org)
    scope.check(org_path, "该回复")
    if kind == "click" and not KEY_RE.match(str(data.get("key") or "")):
        raise BadInput("菜单 key 应为 1-64 位字母、数字、下划线或连字符", code="key")
    doc = {**data, "kind": kind, "org": org}
    if kind == "keyword":
        if before is not None:
            doc["_id"] = before["_id"]
        elif FORM_KEY_RE.match(form_key):
            doc["_id"] = f"{org}:kw:{form_key}"  # a repeated submit of one form updates the same rule
    if kind in ("welcome", "default", "click") and before is None:  # one per org (and key): saving replaces it
        before = await store.get(deps.db, _single_id(org, str(kind), str(data.get("key") or "")))
    saved_id = await bot_content_edit.save(deps.db, deps.redis, doc, scope.editor.username)
    if before is not None and before["_id"] != saved_id:  # a click reply's key changed: move it
        await bot_content_edit.remove(deps.db, deps.redis, before["_id"])
    after = await store.get(deps.db, saved_id) or {}
    action = "create" if before is None else "update"
    await audit.record(
        deps.db,
        scope.editor,
        f"reply.{action}",
        "reply",
        saved_id,
        org_path,
        summary=f"{audit.ACTIONS[action]}{KIND_NAMES.get(str(kind), '')}“{_label(after)}”",
        before=before,
        after=after,
        ip=scope.ip,
    )
    return after


def _single_id(org: str, kind: str, key: str) -> str:
    return f"{org}:click:{key}" if kind == "click" else f"{org}:{kind}"


def _label(doc: dict[str, Any]) -> str:
    if doc.get("kind") == "keyword":
        return doc.get("name") or "、".join(doc.get("patterns") or [])[:30]
    if doc.get("kind") == "click":
        return str(doc.get("key", ""))
    return KIND_NAMES.get(doc.get("kind", ""), "")


async def delete(deps: Deps, scope: Scope, doc_id: str) -> None:
    scope.require_write()
    before = await get(deps, scope, doc_id)
    await bot_content_edit.remove(deps.db, deps.redis, doc_id)
    await audit.record(
        deps.db,
        scope.editor,
        "reply.delete",
        "reply",
        doc_id,
        await _org_path(deps, str(before["org"])),
        summary=f"删除{KIND_NAMES.get(before['kind'], '')}“{_label(before)}”",
        before=before,
        ip=scope.ip,
    )
