"""Editing the account's content: validate, save, bump the version every process watches.

Editors' console handlers (a later issue) call `save` / `remove`; the seed writes through
`services.replies.store.seed`. A document is compiled exactly as the bot will compile it, so what
an editor saves is what workers get, and a mistake is a clear Chinese message, not a silent skip.
"""

from __future__ import annotations

import secrets
from typing import Any

import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from core.errors import BadInput, NotFound
from services.replies import store
from services.replies.compile import ContentError, Globals, compile_reply, compile_rule, make_env

MAX_PATTERN = 200


def validate(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as it will be stored, or BadInput naming what to fix."""
    kind = doc.get("kind")
    if kind not in store.KINDS:
        raise BadInput("内容类型必须是 keyword、welcome、default 或 click 之一", code="invalid_kind")
    org = str(doc.get("org") or "").strip()
    if not org.isdigit():
        raise BadInput("请指定所属组织（组织代码）", code="invalid_org")
    env = make_env(Globals())
    try:
        if kind == "keyword":
            patterns = doc.get("patterns")
            if isinstance(patterns, list) and any(len(str(p)) > MAX_PATTERN for p in patterns):
                raise ContentError(f"单个关键词不能超过 {MAX_PATTERN} 个字")
            compile_rule(env, {**doc, "_id": doc.get("_id", "new")})
        else:
            compile_reply(env, doc.get("reply"))
    except ContentError as exc:
        raise BadInput(str(exc), code="invalid_content") from None
    if kind == "click" and not str(doc.get("key") or "").strip():
        raise BadInput("菜单点击回复需要菜单 key", code="invalid_key")
    fields = ("org", "kind", "name", "match", "patterns", "priority", "key", "reply", "enabled")
    out: dict[str, Any] = {k: doc[k] for k in fields if k in doc}
    out["org"] = org
    if kind in ("welcome", "default"):
        out["_id"] = f"{org}:{kind}"  # one per org
    elif kind == "click":
        out["_id"] = f"{org}:click:{doc['key']}"
    else:
        out["_id"] = str(doc.get("_id") or f"{org}:kw:{secrets.token_hex(6)}")
    return out


async def save(db: AsyncDatabase[dict[str, Any]], redis: aioredis.Redis, doc: dict[str, Any], editor: str) -> str:
    clean = validate(doc)
    await store.upsert(db, clean, updated_by=editor)
    await store.bump_version(redis)
    return str(clean["_id"])


async def remove(db: AsyncDatabase[dict[str, Any]], redis: aioredis.Redis, doc_id: str) -> None:
    if not await store.delete(db, doc_id):
        raise NotFound("该回复规则不存在或已被删除")
    await store.bump_version(redis)
