"""抢券 in the mini-program: live batches, one batch with "本单位剩 N / 公共池 M", and the grab."""

from __future__ import annotations

import json
import logging
import re
from typing import Any, ClassVar
from urllib.parse import unquote

from tornado import httputil

from core.errors import BadInput, NotFound, ServiceError, Unauthorized
from core.outage import is_storage_fault, is_unavailable
from handlers.lean import LeanRoute
from miniprogram_api.base import SESSION_EXPIRED, MpHandler
from miniprogram_api.openapi import error, header, ok, query
from miniprogram_api.paging import KEY_PATTERN
from services.coupons import browsing, grabbing, reminders
from services.members import sessions

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")
CURSOR_PARAM = query(
    "cursor", {"type": "string", "pattern": r"^(\d{1,13}\.[0-9a-f]{12})?$"}, "上一页的 next_cursor；空为第一页"
)


def _limit(raw: str) -> int:
    if not re.fullmatch(r"[0-9]{1,2}", raw) or not 1 <= int(raw) <= 50:
        raise BadInput("limit 应为 1 到 50 之间的整数", code="invalid_field")
    return int(raw)


class CouponListHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["抢券"],
            "summary": "我能看到的抢券批次（本单位及上级工会发放的），新的在前",
            "operationId": "listCouponBatches",
            "parameters": [
                query("limit", {"type": "integer", "minimum": 1, "maximum": 50, "default": 20}),
                CURSOR_PARAM,
            ],
            "responses": {"200": ok("CouponBatchList")},
        }
    }

    async def get(self) -> None:
        limit = _limit(self.get_query_argument("limit", "20", strip=False))
        page = await browsing.page(self.deps, self.user, self.get_query_argument("cursor", "", strip=False), limit)
        self.write_json({"items": page.items, "next_cursor": page.next_cursor})


class CouponBatchHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["抢券"],
            "summary": "批次详情：时段、本单位剩余与公共池剩余（本单位剩 N / 公共池 M）、我的结果",
            "operationId": "getCouponBatch",
            "responses": {"200": ok("CouponBatchDetail")},
        }
    }

    async def get(self, batch_id: str) -> None:
        self.write_json(await browsing.detail(self.deps, self.user, batch_id))


class RemindHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": ["抢券"],
            "summary": "开抢提醒：下一时段开始前约 5 分钟发送订阅消息（先调用 wx.requestSubscribeMessage 取得授权）",
            "operationId": "remindCouponWave",
            "responses": {
                "201": ok("CouponReminder", "已登记提醒（重复登记不会重复提醒）"),
                "409": error("没有尚未开始的时段"),
            },
        }
    }

    async def post(self, batch_id: str) -> None:
        r = await reminders.subscribe(self.deps, self.user, batch_id)
        self.write_json({"wave": r.wave, "opens_at": r.opens_at.isoformat(), "remind_at": r.remind_at.isoformat(),
                         "new": r.new}, 201)  # fmt: skip


class GrabRoute(LeanRoute):
    """The grab: a lean route (handlers/lean.py), as /wechat — at a wave's opening this path takes every
    worker's tap at once, and a plain HTTP delegate costs about half of a RequestHandler's CPU. It still
    does what MpHandler does: bearer session, Idempotency-Key check, `{code, message}` errors, 503 when
    Redis or MongoDB is down. "Sold out" / "already granted" are normal answers here, logged at INFO."""

    methods = ("POST",)
    expected_statuses = frozenset({409})
    requires_session: ClassVar[bool] = True
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": ["抢券"],
            "summary": "抢券（每位会员每批限 1 张；先从本单位份额中发放，抢完后从公共池发放）",
            "operationId": "grabCoupon",
            "parameters": [
                header(
                    "Idempotency-Key",
                    {"type": "string", "pattern": KEY_PATTERN},
                    "本次抢券的唯一编号：超时后用同一编号重试，返回第一次的结果（响应头 Idempotent-Replayed: true）",
                )
            ],
            "responses": {
                "201": ok("GrabResult", "已抢到（status=held 表示待审核）"),
                "403": error("未绑定会员（请先绑定，页面 pages/member/bind），或不面向您所在的工会"),
                "409": error("时段未开始或已结束、已停止发放、已抢完，或您已领过"),
            },
        }
    }

    def start(self, headers: httputil.HTTPHeaders) -> None:
        self._auth = headers.get("Authorization", "")
        self._key = headers.get("Idempotency-Key")  # None: absent; "" (sent empty) is refused below

    def body_done(self) -> None:
        self.run(self._grab())

    async def _grab(self) -> None:
        try:
            result = await self._decide()
        except ServiceError as exc:
            extra = [("WWW-Authenticate", 'Bearer realm="mp"')] if exc.status == 401 else []
            self.fail(exc.status, exc.code, exc.message, extra)
            return
        except Exception as exc:
            if not (is_unavailable(exc) or is_storage_fault(exc)):
                raise
            log.warning("grab: Redis or MongoDB unavailable", exc_info=True)
            self.fail(503, "unavailable", "服务繁忙，请稍后重试", [("Retry-After", "5")])
            return
        extra = [("Cache-Control", "no-store")]
        if result.replayed:
            extra.append(("Idempotent-Replayed", "true"))
        body = json.dumps(result.answer(), ensure_ascii=False, separators=(",", ":")).encode()
        self.answer(201, body, "application/json; charset=utf-8", extra)

    async def _decide(self) -> grabbing.GrabResult:
        scheme, _, token = self._auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 128:
            raise Unauthorized("请先登录", code="unauthorized")
        user = await sessions.authenticate(self.deps, token)
        if user is None:
            raise Unauthorized(SESSION_EXPIRED, code="unauthorized")
        if self._key is not None and not IDEMPOTENCY_KEY.fullmatch(self._key):
            raise BadInput("Idempotency-Key 应为 8 到 64 位字母、数字、- 或 _", code="invalid_idempotency_key")
        batch_id = unquote(self.path.split("/")[4])
        if not 1 <= len(batch_id) <= 64:
            raise NotFound("该批优惠券不存在或已下线", code="batch_not_found")
        return await grabbing.grab(self.deps, user, batch_id, self.client_ip(), self._key or "")


_TIME = {"type": "string", "format": "date-time"}
_WAVE = {"type": "object", "required": ["opens_at", "closes_at"], "properties": {"opens_at": _TIME, "closes_at": _TIME}}
_SUMMARY: dict[str, Any] = {
    "id": {"type": "string"},
    "title": {"type": "string"},
    "org": {"type": "string"},
    "value_cents": {"type": "integer"},
    "stock": {"type": "integer"},
    "state": {"type": "string", "enum": ["upcoming", "open", "ended", "closed"]},
    "waves": {"type": "array", "items": _WAVE},
    "next_wave_at": {**_TIME, "nullable": True},
    "expires_at": _TIME,
}

schemas: dict[str, dict[str, Any]] = {
    "CouponBatchSummary": {"type": "object", "required": list(_SUMMARY), "properties": _SUMMARY},
    "CouponBatchList": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/CouponBatchSummary"}},
            "next_cursor": {"type": "string", "nullable": True},
        },
    },
    "CouponBatchDetail": {
        "type": "object",
        "required": [*_SUMMARY, "my", "now"],
        "properties": {
            **_SUMMARY,
            "now": _TIME,
            "my": {
                "type": "object",
                "required": ["bucket_left", "pool_left", "text", "result", "entitlement_id", "is_member", "reason"],
                "properties": {
                    "bucket_left": {"type": "integer", "description": "本单位份额剩余"},
                    "pool_left": {"type": "integer", "description": "公共池剩余"},
                    "text": {"type": "string", "description": "本单位剩 N / 公共池 M"},
                    "result": {"type": "string", "enum": ["none", "granted", "held", "revoked"]},
                    "entitlement_id": {"type": "string", "nullable": True},
                    "is_member": {"type": "boolean"},
                    "reason": {"type": "string", "description": "不能抢的原因（未绑定会员时含绑定页面）"},
                },
            },
        },
    },
    "CouponReminder": {
        "type": "object",
        "required": ["wave", "opens_at", "remind_at", "new"],
        "properties": {"wave": {"type": "integer"}, "opens_at": _TIME, "remind_at": _TIME, "new": {"type": "boolean"}},
    },
    "GrabResult": {
        "type": "object",
        "required": ["entitlement_id", "status", "message", "bucket_left", "pool_left"],
        "properties": {
            "entitlement_id": {"type": "string"},
            "status": {"type": "string", "enum": ["granted", "held", "revoked"]},
            "message": {"type": "string"},
            "bucket_left": {"type": "integer"},
            "pool_left": {"type": "integer"},
        },
    },
}

routes = [
    (r"/api/mp/coupons", CouponListHandler),
    (r"/api/mp/coupons/(?P<batch_id>[^/]+)", CouponBatchHandler),
    (r"/api/mp/coupons/(?P<batch_id>[^/]+)/grab", GrabRoute),  # a lean route
    (r"/api/mp/coupons/(?P<batch_id>[^/]+)/remind", RemindHandler),
]
