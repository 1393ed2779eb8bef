"""What an editor needs around a push: preview to a test follower, upload an openid list, pick a template."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from typing import Any

from core.deps import Deps
from core.errors import BadInput, ServiceError, TooMany, Unavailable
from core.wechat.errors import WeChatError
from services.pushes import rules as push_rules
from services.pushes import send as push_send
from services.pushes import store
from services.pushes.compose import _org_in_scope, _owned

MAX_UPLOAD = 200_000  # ~7 MB of text; bigger audiences are better described by tags or orgs
PREVIEWS_PER_MINUTE = 10
TEMPLATES_KEY = "push:templates"
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)\.DATA\s*\}\}")


async def preview(deps: Deps, push_id: str, openid: str, *, editor_org: str, editor: str) -> dict[str, Any]:
    """Send the push's content to one follower now (usually the editor's own openid)."""
    doc = await _owned(deps, push_id, editor_org)
    openid = (openid or "").strip() if isinstance(openid, str) else ""
    if not push_rules.OPENID_RE.match(openid):
        raise BadInput("预览对象的 openid 格式不正确", code="invalid_openid")
    key = f"push:preview:{push_id}"
    count = await deps.redis.incr(key)
    if count == 1:
        await deps.redis.expire(key, 60)
    if count > PREVIEWS_PER_MINUTE:
        raise TooMany("预览太频繁，请一分钟后再试", code="preview_limited")
    try:
        msgid = await push_send.preview(deps, doc["channel"], doc["message"], openid)
    except WeChatError as exc:
        raise ServiceError(f"预览发送失败：{exc.text}（微信错误码 {exc.errcode}）", code="preview_failed") from None
    return {"ok": True, "openid": openid, "msgid": msgid, "by": editor}


def parse_openids(lines: Iterable[str]) -> tuple[list[str], list[dict[str, Any]], int]:
    """(unique openids in order, the first invalid lines, duplicates dropped). One openid per line;
    a CSV line's first cell counts, a header line `openid` is ignored."""
    seen: dict[str, None] = {}
    invalid: list[dict[str, Any]] = []
    duplicates = 0
    for n, raw in enumerate(lines, 1):
        value = raw.strip().split(",")[0].strip().strip('"').strip("\ufeff")
        if not value or (n == 1 and value.lower() in ("openid", "open_id")):
            continue
        if not push_rules.OPENID_RE.match(value):
            if len(invalid) < 20:
                invalid.append({"line": n, "value": value[:80], "message": "不是有效的 openid"})
            continue
        if value in seen:
            duplicates += 1
            continue
        seen[value] = None
        if len(seen) > MAX_UPLOAD:
            raise BadInput(f"名单最多 {MAX_UPLOAD} 个 openid", code="upload_too_large")
    return list(seen), invalid, duplicates


async def upload_openids(
    deps: Deps, data: str | bytes | Iterable[str], *, editor_org: str, editor: str, org: str | None = None
) -> dict[str, Any]:
    """Store an uploaded openid list (text or CSV, one per line) for the `openids` audience."""
    owner = await _org_in_scope(deps, org or editor_org, editor_org, "名单所属单位")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadInput("名单文件必须是 UTF-8 编码的文本或 CSV", code="invalid_upload") from None
    if isinstance(data, str):
        lines: Iterable[str] = data.splitlines()
    elif isinstance(data, Iterable):
        lines = (str(line) for line in data)
    else:
        raise BadInput("请上传 openid 名单（文本或 CSV，每行一个）", code="invalid_upload")
    openids, invalid, duplicates = parse_openids(lines)
    if not openids:
        raise BadInput("名单中没有有效的 openid（每行一个）", code="invalid_upload")
    upload_id = "u" + secrets.token_hex(6)
    await store.save_upload(deps.db, upload_id, openids, org=owner.code, org_path=owner.path, by=editor)
    return {"upload_id": upload_id, "count": len(openids), "invalid": invalid, "duplicates": duplicates}


async def templates(deps: Deps, *, refresh: bool = False) -> list[dict[str, Any]]:
    """The account's template-library templates with their field names (cached 10 minutes)."""
    if not refresh and (cached := await deps.redis.get(TEMPLATES_KEY)):
        return list(json.loads(cached))
    try:
        data = await deps.oa.client.get("cgi-bin/template/get_all_private_template")
    except WeChatError as exc:
        raise Unavailable(f"获取模板列表失败：{exc.text}", code="templates_unavailable") from None
    out = [
        {"template_id": t.get("template_id"), "title": t.get("title", ""), "content": t.get("content", ""),
         "fields": PLACEHOLDER.findall(t.get("content", ""))}
        for t in data.get("template_list", [])
    ]  # fmt: skip
    await deps.redis.set(TEMPLATES_KEY, json.dumps(out, ensure_ascii=False), ex=600)
    return out
