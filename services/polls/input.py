"""Checking what editors send for a poll: one Chinese message per problem, naming the field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from core.errors import BadInput

MAX_OPTIONS = 200
MAX_DURATION = timedelta(days=366)
DEFAULT_ANTI_BRUSH = {"user_per_minute": 10, "ip_per_minute": 600}
EDITABLE = {
    "title", "description", "cover_url", "options", "multiple", "max_choices", "limit", "opens_at", "closes_at",
    "members_only", "anti_brush", "org",
}  # fmt: skip


def _text(data: dict[str, Any], key: str, label: str, max_len: int, required: bool = False) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BadInput(f"{label}应为文字", code="invalid_field")
    value = value.strip()
    if required and not value:
        raise BadInput(f"请填写{label}", code="invalid_field")
    if len(value) > max_len:
        raise BadInput(f"{label}不能超过 {max_len} 个字", code="invalid_field")
    return value


def _url(data: dict[str, Any], key: str, label: str) -> str:
    value = _text(data, key, label, 500)
    if value and (urlparse(value).scheme not in ("https", "http") or not urlparse(value).netloc):
        raise BadInput(f"{label}应为 http(s) 开头的网址", code="invalid_field")
    return value


def _int(value: Any, label: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"{label}应为整数", code="invalid_field")
    if not low <= value <= high:
        raise BadInput(f"{label}应在 {low} 到 {high} 之间", code="invalid_field")
    return value


def _time(value: Any, label: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise BadInput(f"{label}应为带时区的时间", code="invalid_field")
    return value


def _options(raw: Any, existing: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Options keep their ids; new ones (no id) get the next free `o<n>`."""
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_OPTIONS:
        raise BadInput(f"投票选项应有 2 到 {MAX_OPTIONS} 个", code="invalid_field")
    known = {o["id"] for o in existing or []}
    next_n = 1 + max([int(i[1:]) for i in known if i[1:].isdigit()] or [0])
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise BadInput(f"第 {i} 个选项格式不正确", code="invalid_field")
        oid = item.get("id")
        if oid is None:
            oid, next_n = f"o{next_n}", next_n + 1
        elif not isinstance(oid, str) or oid not in known:
            raise BadInput(f"第 {i} 个选项的编号 {str(oid)[:20]} 不存在", code="invalid_field")
        out.append(
            {
                "id": oid,
                "title": _text(item, "title", f"第 {i} 个选项的名称", 60, required=True),
                "description": _text(item, "description", f"第 {i} 个选项的介绍", 1000),
                "image_url": _url(item, "image_url", f"第 {i} 个选项的图片"),
            }
        )
    if len({o["id"] for o in out}) != len(out):
        raise BadInput("选项编号重复", code="invalid_field")
    return out


def _rules(doc: dict[str, Any], data: dict[str, Any]) -> None:
    """Cross-field checks on the merged poll."""
    n = len(doc["options"])
    if not doc["multiple"]:
        doc["max_choices"] = 1
    doc["max_choices"] = _int(doc["max_choices"], "最多可选项数", 1, n)
    limit = doc["limit"]
    if not isinstance(limit, dict) or limit.get("per") not in ("day", "poll"):
        raise BadInput("投票次数规则应为“每天”（day）或“整个投票期间”（poll）", code="invalid_field")
    doc["limit"] = {"per": limit["per"], "count": _int(limit.get("count", 1), "每人投票次数", 1, 100)}
    if not isinstance(doc.get("anti_brush") or {}, dict):
        raise BadInput("防刷票设置格式不正确", code="invalid_field")
    anti = {**DEFAULT_ANTI_BRUSH, **(doc.get("anti_brush") or {})}
    doc["anti_brush"] = {
        "user_per_minute": _int(anti["user_per_minute"], "每人每分钟投票上限", 0, 100_000),
        "ip_per_minute": _int(anti["ip_per_minute"], "每个网络地址每分钟投票上限", 0, 10_000_000),
    }
    opens, closes = _time(doc["opens_at"], "开始时间"), _time(doc["closes_at"], "结束时间")
    if closes <= opens:
        raise BadInput("结束时间必须晚于开始时间", code="invalid_field")
    if closes - opens > MAX_DURATION:
        raise BadInput("投票时间最长一年", code="invalid_field")
    for key, label in (("multiple", "是否多选"), ("members_only", "是否仅会员")):
        if not isinstance(doc.get(key) or False, bool):
            raise BadInput(f"{label}应为 true 或 false", code="invalid_field")
    doc["members_only"] = bool(doc.get("members_only"))


def check_new(data: dict[str, Any], at: datetime) -> dict[str, Any]:
    unknown = set(data) - EDITABLE - {"publish"}
    if unknown:
        raise BadInput(f"不认识的字段：{'、'.join(sorted(unknown))}", code="invalid_field")
    doc: dict[str, Any] = {
        "title": _text(data, "title", "投票标题", 60, required=True),
        "description": _text(data, "description", "投票说明", 5000),
        "cover_url": _url(data, "cover_url", "封面图片"),
        "options": _options(data.get("options")),
        "multiple": data.get("multiple", False),
        "max_choices": data.get("max_choices", 1),
        "limit": data.get("limit", {"per": "poll", "count": 1}),
        "opens_at": data.get("opens_at", at),
        "closes_at": data.get("closes_at"),
        "members_only": data.get("members_only", False),
        "anti_brush": data.get("anti_brush"),
    }
    if doc["closes_at"] is None:
        raise BadInput("请设置结束时间", code="invalid_field")
    _rules(doc, data)
    return doc


def check_changes(poll: dict[str, Any], changes: dict[str, Any], *, has_ballots: bool) -> dict[str, Any]:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise BadInput(f"不认识的字段：{'、'.join(sorted(unknown))}", code="invalid_field")
    doc = {k: poll.get(k) for k in EDITABLE}
    fields: dict[str, Any] = {}
    for key in ("title", "description"):
        if key in changes:
            label, size = ("投票标题", 60) if key == "title" else ("投票说明", 5000)
            fields[key] = _text(changes, key, label, size, required=key == "title")
    if "cover_url" in changes:
        fields["cover_url"] = _url(changes, "cover_url", "封面图片")
    if "options" in changes:
        fields["options"] = _options(changes["options"], poll["options"])
        removed = {o["id"] for o in poll["options"]} - {o["id"] for o in fields["options"]}
        if removed and has_ballots:
            raise BadInput("已有人投票，不能删除选项（可以修改名称或新增选项）", code="options_locked")
    if "limit" in changes and has_ballots:
        per = changes["limit"].get("per") if isinstance(changes["limit"], dict) else None
        if per != poll["limit"]["per"]:
            raise BadInput("已有人投票，不能修改投票次数的周期（每天/整个投票期间）", code="limit_locked")
    for key in ("multiple", "max_choices", "limit", "opens_at", "closes_at", "members_only", "anti_brush", "org"):
        if key in changes:
            fields[key] = changes[key]
    doc.update(fields)
    _rules(doc, changes)
    for key in ("max_choices", "limit", "anti_brush", "members_only"):
        if key in fields or key == "max_choices" and "multiple" in fields:
            fields[key] = doc[key]
    if "org" in fields and not isinstance(fields["org"], str):
        raise BadInput("所属工会编码应为文字", code="invalid_field")
    return fields
