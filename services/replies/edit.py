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
MAX_PATTERNS = 50
# Each field an editor sets and the one JSON type it may have (objects where text belongs would
# otherwise reach MongoDB as operators or crash after the write).
TEXT_FIELDS = {"name": "名称", "match": "匹配方式", "key": "菜单 key"}
REPLY_TEXT = {"type": "回复类型", "text": "回复文字", "media_id": "素材 media_id", "kf_account": "客服账号"}
ARTICLE_TEXT = {"title": "文章标题", "description": "文章摘要", "url": "文章链接", "pic_url": "封面图片地址"}


def _text(value: Any, label: str) -> None:
    if value is not None and not isinstance(value, str):
        raise BadInput(f"{label}应为文字", code="invalid_field")


def check_types(doc: dict[str, Any]) -> None:
    """BadInput (Chinese, naming the field) unless every field has its type: checked before anything is written."""
    for field, label in TEXT_FIELDS.items():
        _text(doc.get(field), label)
    patterns = doc.get("patterns")
    if patterns is not None and not (
        isinstance(patterns, str) or (isinstance(patterns, list) and all(isinstance(p, str) for p in patterns))
    ):
        raise BadInput("关键词应为文字列表", code="invalid_field")
    if isinstance(patterns, list) and len(patterns) > MAX_PATTERNS:
        raise BadInput(f"一条规则最多 {MAX_PATTERNS} 个关键词", code="invalid_field")
    priority = doc.get("priority")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
        raise BadInput("优先级必须是整数", code="priority")
    if "enabled" in doc and not isinstance(doc["enabled"], bool):
        raise BadInput("启用状态应为 true 或 false", code="invalid_field")
    reply = doc.get("reply")
    if reply is None:
        return
    if not isinstance(reply, dict):
        raise BadInput("回复内容格式不正确", code="invalid_content")
    for field, label in REPLY_TEXT.items():
        _text(reply.get(field), label)
    articles = reply.get("articles")
    if articles is not None:
        if not isinstance(articles, list) or not all(isinstance(a, dict) for a in articles) or len(articles) > 8:
            raise BadInput("图文回复的文章格式不正确", code="invalid_content")
        for article in articles:
            for field, label in ARTICLE_TEXT.items():
                _text(article.get(field), label)


def validate(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as it will be stored, or BadInput naming what to fix."""
    check_types(doc)
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
    if isinstance(out.get("reply"), dict):  # only the reply's known fields are stored
        reply = {k: v for k, v in out["reply"].items() if k in (*REPLY_TEXT, "articles")}
        if isinstance(reply.get("articles"), list):
            reply["articles"] = [{k: a[k] for k in ARTICLE_TEXT if k in a} for a in reply["articles"]]
        out["reply"] = reply
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
