"""Recording and reading the audit log: who changed what, when, and what it looked like before and after.

`record()` is called by every console service after a change succeeded (a refused change is not a
change and leaves no entry). Values are made storable and stripped of secrets; very large values
(a mass article's body) are cut so one entry stays small.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.clock import localize, now
from core.errors import NotFound
from services.editors import audit_store as store
from services.editors.accounts import Editor

log = logging.getLogger(__name__)

SECRET_KEYS = {"password", "password_hash", "csrf", "token", "session_key"}
MAX_STRING = 4000

ACTIONS = {
    "create": "新建",
    "update": "修改",
    "delete": "删除",
    "publish": "发布",
    "close": "关闭",
    "cancel": "取消",
    "pause": "暂停",
    "resume": "恢复",
    "disable": "停用",
    "enable": "启用",
    "password": "修改密码",
    "reset_password": "重置密码",
    "login": "登录",
    "login_failed": "登录失败",
    "logout": "退出",
    "import": "导入",
    "export": "导出",
    "preview": "预览",
    "schedule": "安排发送",
    "approve": "审批",
    **{
        "claim": "认领",
        "reply": "答复",
        "ask": "答复并请补充",
        "wait": "暂停计时",
        "resolved": "办结",
        "referred": "转办",
        "review": "审核通过",
    },  # consultation cases
    "mark": "标记",
    "reject": "驳回",
    "lend": "借出",
    "return": "归还",
    "unbind": "解除绑定",
    "transfer": "转移",
}
TARGETS = {
    "editor": "账号",
    "session": "登录",
    "reply": "自动回复",
    "menu": "自定义菜单",
    "poll": "投票",
    "survey": "问卷",
    "activity": "活动",
    "roster": "会员名册",
    "member": "会员",
    "qrcode": "二维码",
    "push": "推送",
    "competition": "竞赛",
    **{"consult_case": "咨询", "consult_desk": "咨询台", "consult_calendar": "工作日历"},
    "counselling": "心理咨询",
    "course": "课程",
    "reading_campaign": "阅读活动",
    "library_room": "书屋",
    "library_copy": "图书",
}


def clean(value: Any, depth: int = 0) -> Any:
    """A copy safe to store: no secrets, no huge strings, only BSON-friendly types."""
    if depth > 12:
        return "…"
    if isinstance(value, dict):
        return {str(k): clean(v, depth + 1) for k, v in value.items() if str(k) not in SECRET_KEYS}
    if isinstance(value, list | tuple | set):
        return [clean(v, depth + 1) for v in value][:1000]
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING else value[:MAX_STRING] + f"…（共 {len(value)} 字）"
    if value is None or isinstance(value, bool | int | float | datetime):
        return value
    return str(value)


async def record(
    db: Any,
    actor: Editor | None,
    action: str,
    target_type: str,
    target_id: str,
    org_path: Sequence[str],
    *,
    summary: str = "",
    before: Any = None,
    after: Any = None,
    ip: str = "",
) -> str:
    doc = {
        "at": now(),
        "actor": actor.username if actor else "system",
        "actor_name": actor.name if actor else "系统",
        "actor_org": actor.org if actor else "",
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id),
        "org": org_path[-1] if org_path else "",
        "org_path": list(org_path),
        "summary": summary,
        "before": clean(before),
        "after": clean(after),
        "ip": ip,
    }
    return await store.insert(db, doc)


async def entries(
    db: Any, editor: Editor, org: str, *, actor: str = "", target_type: str = "", before_id: str = "", limit: int = 50
) -> list[dict[str, Any]]:
    """A page of entries of `org`'s subtree (which must lie in the editor's), newest first."""
    return await store.page(
        db, org, actor=actor or None, target_type=target_type or None, before_id=before_id or None, limit=limit
    )


async def entry(db: Any, editor: Editor, entry_id: str) -> dict[str, Any]:
    doc = await store.get(db, entry_id)
    if doc is None or not editor.covers(doc.get("org_path")):
        raise NotFound("日志不存在或不在您的管理范围内", code="audit_not_found")
    return doc


def describe(doc: dict[str, Any]) -> str:
    """ "张三 修改了 投票“春季健步走”" — for lists."""
    verb = ACTIONS.get(str(doc.get("action", "")).split(".")[-1], doc.get("action", ""))
    if doc.get("target_type") == "session":
        return str(verb)
    target = TARGETS.get(doc.get("target_type", ""), doc.get("target_type", ""))
    return f"{verb}{target}"


def changes(before: Any, after: Any) -> list[dict[str, Any]]:
    """Top-level fields that differ, as rows {field, before, after} of readable text."""
    b = before if isinstance(before, dict) else {}
    a = after if isinstance(after, dict) else {}
    rows = []
    for key in sorted(set(b) | set(a)):
        if key in ("updated_at", "_id"):
            continue
        if b.get(key) != a.get(key):
            rows.append({"field": key, "before": _text(b.get(key)), "after": _text(a.get(key))})
    return rows


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return localize(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str, indent=1)[:2000]
    except (TypeError, ValueError):
        return str(value)[:2000]
