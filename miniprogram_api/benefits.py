"""我的权益 in the mini-program: the worker's coupons, prizes and gifts, and the rotating redemption code."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from core.errors import BadInput
from miniprogram_api.base import MpHandler
from miniprogram_api.openapi import error, ok, query
from services.benefits import codes, mine


class MyBenefitsHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["权益"],
            "summary": "我的权益（优惠券、奖品、生日礼），新的在前",
            "operationId": "listMyBenefits",
            "parameters": [
                query("limit", {"type": "integer", "minimum": 1, "maximum": 50, "default": 20}),
                query("cursor", {"type": "string", "maxLength": 220}, "上一页的 next_cursor；空为第一页"),
            ],
            "responses": {"200": ok("BenefitList")},
        }
    }

    async def get(self) -> None:
        raw = self.get_query_argument("limit", "20", strip=False)
        if not re.fullmatch(r"[0-9]{1,2}", raw) or not 1 <= int(raw) <= 50:
            raise BadInput("limit 应为 1 到 50 之间的整数", code="invalid_field")
        page = await mine.page(self.deps, self.user, self.get_query_argument("cursor", "", strip=False), int(raw))
        self.write_json({"items": page.items, "next_cursor": page.next_cursor})


class BenefitCodeHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["权益"],
            "summary": "核销码：12 位数字（可生成二维码），每 30 秒更新，约 1 分钟内有效；到店出示给商户",
            "operationId": "getBenefitCode",
            "responses": {"200": ok("BenefitCode"), "409": error("待审核、已核销、已过期或已收回")},
        }
    }

    async def get(self, entitlement_id: str) -> None:
        self.set_header("Cache-Control", "no-store")
        shown = await codes.show(self.deps, self.user, entitlement_id)
        self.write_json({"code": shown.code, "refresh_in": shown.refresh_in, "valid_seconds": shown.valid_seconds})


_TIME = {"type": "string", "format": "date-time"}
_ITEM: dict[str, Any] = {
    "id": {"type": "string"},
    "kind": {"type": "string", "enum": ["coupon", "prize", "gift"]},
    "title": {"type": "string"},
    "value_cents": {"type": "integer"},
    "status": {"type": "string", "enum": ["held", "granted", "redeemed", "expired", "revoked"]},
    "status_text": {"type": "string"},
    "granted_at": _TIME,
    "expires_at": _TIME,
    "redeemed_at": {**_TIME, "nullable": True},
}
schemas: dict[str, dict[str, Any]] = {
    "Benefit": {"type": "object", "required": list(_ITEM), "properties": _ITEM},
    "BenefitList": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Benefit"}},
            "next_cursor": {"type": "string", "nullable": True},
        },
    },
    "BenefitCode": {
        "type": "object",
        "required": ["code", "refresh_in", "valid_seconds"],
        "properties": {
            "code": {"type": "string", "pattern": "^[0-9]{12}$"},
            "refresh_in": {"type": "integer", "description": "秒后刷新"},
            "valid_seconds": {"type": "integer"},
        },
    },
}

routes = [
    (r"/api/mp/benefits", MyBenefitsHandler),
    (r"/api/mp/benefits/(?P<entitlement_id>[^/]+)/code", BenefitCodeHandler),
]
