"""One convention for every /api/mp/ list and retry: `cursor` in, `next_cursor` out; an
`Idempotency-Key` header on state-changing POSTs whose retry could double an effect.

The older `before` (in) and `next` (out) of the survey and activity lists stay as deprecated
aliases for one release.
"""

from __future__ import annotations

import re
from typing import Any

import tornado.web

from core.errors import BadInput
from miniprogram_api.openapi import header, query

LIMIT_PARAM = query("limit", {"type": "integer", "minimum": 1, "maximum": 50, "default": 20})
CURSOR_PARAM = query("cursor", {"type": "string"}, "上一页返回的 next_cursor；不传为第一页")
BEFORE_PARAM = {**query("before", {"type": "string"}, "已弃用：同 cursor"), "deprecated": True}
KEY_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
# As published: HTTP strips the blanks around a header value before we see it, so they are allowed.
KEY_PATTERN = "^[ \t]*[A-Za-z0-9_-]{8,64}[ \t]*$"


def idempotency_param(what: str) -> dict[str, Any]:
    return header(
        "Idempotency-Key",
        {"type": "string", "pattern": KEY_PATTERN},
        f"本次{what}的唯一编号（建议每次点击生成一个 UUID）：网络超时后用同一编号重试，只生效一次并返回第一次的结果",
    )


def page_args(handler: tornado.web.RequestHandler) -> tuple[str | None, int]:
    """(cursor, limit) from the query: `cursor`, or the deprecated `before`; a present but empty one is refused."""
    raw = handler.get_query_argument("limit", "20", strip=False)
    if not re.fullmatch(r"[0-9]{1,2}", raw) or not 1 <= int(raw) <= 50:
        raise BadInput("limit 应为 1 到 50 之间的整数", code="invalid_field")
    cursor = handler.get_query_argument("cursor", None, strip=False)
    if cursor is None:
        cursor = handler.get_query_argument("before", None, strip=False)
    return cursor, int(raw)


def page(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    """A list answer: `next_cursor` (null on the last page) and its deprecated alias `next`."""
    return {"items": items, "next_cursor": next_cursor, "next": next_cursor}


def page_schema(item_ref: str, description: str = "") -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "description": description,
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item_ref}"}},
            "next_cursor": {"type": "string", "nullable": True, "description": "传给下一页的 cursor；null 为最后一页"},
            "next": {"type": "string", "nullable": True, "deprecated": True, "description": "已弃用：同 next_cursor"},
        },
    }


def idempotency_key(handler: tornado.web.RequestHandler) -> str:
    """The request's Idempotency-Key header ("" when absent), checked."""
    key = handler.request.headers.get("Idempotency-Key")
    if key is None:
        return ""
    if not KEY_RE.fullmatch(key):  # present but empty or malformed: refused, never read as "no key"
        raise BadInput("Idempotency-Key 应为 8 到 64 位字母、数字、- 或 _", code="invalid_idempotency_key")
    return key
