"""心理咨询 in the mini-program (page pages/counselling/index): counsellors and free slots of the
worker's org, hold a slot for 5 minutes, confirm with a short intake, cancel, my bookings.

Retries are safe without an Idempotency-Key: holding the slot one already holds, confirming a
confirmed booking and cancelling a cancelled one answer with the booking as it is.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from core.errors import BadInput
from miniprogram_api.base import MpHandler
from miniprogram_api.openapi import body, error, ok, query
from services import counselling

TAG = ["心理咨询"]
SLOT_ID = r"([^/]+)"  # any id routes here, so an unknown one is a JSON 404 (and TRACE a 405 with Allow)
BOOKING_ID = r"([^/]+)"
CURSOR = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{0,200}$"}


def _limit(handler: MpHandler) -> int:
    raw = handler.get_query_argument("limit", "20", strip=False)
    if not re.fullmatch(r"[0-9]{1,2}", raw) or not 1 <= int(raw) <= 50:
        raise BadInput("limit 应为 1 到 50 之间的整数", code="invalid_field")
    return int(raw)


def _cursor(handler: MpHandler) -> str:
    raw = handler.get_query_argument("cursor", "", strip=False)
    if not re.fullmatch(CURSOR["pattern"], raw):
        raise BadInput("cursor 无效，请从第一页重新加载", code="invalid_cursor")
    return raw


MEMBERS_ONLY = error("请先绑定工会会员身份")


class CounsellorsHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAG,
            "summary": "为我所在工会服务的心理咨询师（本单位及上级工会），近的在前",
            "operationId": "listCounsellors",
            "responses": {"200": ok("CounsellorList"), "403": MEMBERS_ONLY},
        }
    }

    async def get(self) -> None:
        self.write_json(await counselling.booking.list_counsellors(self.deps, self.user))


class SlotsHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAG,
            "summary": "未来 14 天可预约的时段，按时间先后",
            "operationId": "listCounsellingSlots",
            "parameters": [
                query("counsellor", {"type": "string", "maxLength": 32}, "只看这位咨询师；空为全部"),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 50, "default": 20}),
                query("cursor", CURSOR, "上一页的 next_cursor；空为第一页"),
            ],
            "responses": {
                "200": ok("CounsellingSlotList"),
                "403": MEMBERS_ONLY,
                "404": error("咨询师不存在或不为您所在单位服务"),
            },
        }
    }

    async def get(self) -> None:
        counsellor = self.get_query_argument("counsellor", "", strip=False)
        if len(counsellor) > 32:
            raise BadInput("counsellor 无效", code="invalid_field")
        page = await counselling.booking.list_slots(self.deps, self.user, counsellor, _cursor(self), _limit(self))
        self.write_json(page)


class HoldHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAG,
            "summary": "保留该时段 5 分钟（保留期内确认才算预约成功；重试返回同一保留）",
            "operationId": "holdCounsellingSlot",
            "responses": {
                "201": ok("CounsellingBooking", "已保留"),
                "403": MEMBERS_ONLY,
                "409": error("时段已被选走或已开始，或您已有保留/未结束的预约"),
                "429": error("操作太频繁"),
            },
        }
    }

    async def post(self, slot_id: str) -> None:
        await self.rate_limit("counselling.hold", per_user=20, per_ip=3000, window=60)
        self.write_json(await counselling.booking.hold(self.deps, self.user, slot_id), 201)


class ConfirmHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAG,
            "summary": "确认预约并填写简短登记（话题、联系方式、紧急情况）；紧急时返回求助热线",
            "operationId": "confirmCounsellingBooking",
            "requestBody": body("CounsellingIntake"),
            "responses": {
                "200": ok("CounsellingBooking", "已预约（或待咨询师确认）"),
                "403": MEMBERS_ONLY,
                "409": error("保留已过期，或本月预约次数已用完"),
            },
        }
    }

    async def post(self, booking_id: str) -> None:
        data = self.body("CounsellingIntake")
        self.write_json(await counselling.booking.confirm(self.deps, self.user, booking_id, data))


class CancelHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAG,
            "summary": "取消预约或放弃保留（开始前 4 小时以上取消不计入本月次数）",
            "operationId": "cancelCounsellingBooking",
            "responses": {"200": ok("CounsellingBooking"), "403": MEMBERS_ONLY, "409": error("咨询已开始或已结束")},
        }
    }

    async def post(self, booking_id: str) -> None:
        self.write_json(await counselling.booking.cancel(self.deps, self.user, booking_id))


class MyBookingsHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAG,
            "summary": "我的心理咨询预约，新的在前",
            "operationId": "myCounsellingBookings",
            "parameters": [
                query("limit", {"type": "integer", "minimum": 1, "maximum": 50, "default": 20}),
                query("cursor", CURSOR, "上一页的 next_cursor；空为第一页"),
            ],
            "responses": {"200": ok("CounsellingBookingList"), "403": MEMBERS_ONLY},
        }
    }

    async def get(self) -> None:
        self.write_json(await counselling.booking.my_bookings(self.deps, self.user, _cursor(self), _limit(self)))


class ActiveBookingHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAG,
            "summary": "首页用：我当前的心理咨询预约（保留中、待确认或未开始的），没有则为 null",
            "operationId": "activeCounsellingBooking",
            "responses": {"200": ok("ActiveCounsellingBooking")},
        }
    }

    async def get(self) -> None:
        self.write_json({"booking": await counselling.booking.active(self.deps, self.user)})


_TIME = {"type": "string", "format": "date-time"}
_BOOKING_PROPS: dict[str, Any] = {
    "id": {"type": "string"},
    "slot_id": {"type": "string"},
    "counsellor": {"type": "string"},
    "counsellor_name": {"type": "string"},
    "starts_at": _TIME,
    "ends_at": _TIME,
    "status": {
        "type": "string",
        "enum": [
            "held",
            "pending_approval",
            "confirmed",
            "attended",
            "no_show",
            "cancelled",
            "late_cancelled",
            "rejected",
            "released",
            "expired",
        ],
    },  # fmt: skip
    "status_text": {"type": "string"},
    "hold_expires_at": {"type": "string", "format": "date-time", "nullable": True},
    "topic": {"type": "string"},
    "urgent": {"type": "boolean"},
    "contact_kind": {"type": "string"},
}

schemas: dict[str, dict[str, Any]] = {
    "CounsellorList": {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "org", "intro"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "org": {"type": "string"},
                        "intro": {"type": "string"},
                    },
                },
            }
        },
    },
    "CounsellingSlotList": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "counsellor", "counsellor_name", "starts_at", "ends_at"],
                    "properties": {
                        "id": {"type": "string"},
                        "counsellor": {"type": "string"},
                        "counsellor_name": {"type": "string"},
                        "starts_at": _TIME,
                        "ends_at": _TIME,
                    },
                },
            },
            "next_cursor": {"type": "string", "nullable": True},
        },
    },
    "CounsellingBooking": {
        "type": "object",
        "required": list(_BOOKING_PROPS),
        "properties": {
            **_BOOKING_PROPS,
            "crisis_reply": {
                "type": "string",
                "nullable": True,
                "description": "求助热线提示（紧急时），应立即醒目展示",
            },
        },
    },
    "ActiveCounsellingBooking": {
        "type": "object",
        "required": ["booking"],
        "properties": {
            "booking": {"allOf": [{"$ref": "#/components/schemas/CounsellingBooking"}], "nullable": True},
        },
    },
    "CounsellingBookingList": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/CounsellingBooking"}},
            "next_cursor": {"type": "string", "nullable": True},
        },
    },
    "CounsellingIntake": {
        "type": "object",
        "required": ["topic", "contact_kind", "urgent"],
        "additionalProperties": False,
        "properties": {
            "topic": {"type": "string", "title": "想聊的话题", "minLength": 1, "maxLength": 200},
            "contact_kind": {"type": "string", "title": "联系方式", "enum": ["phone", "wechat", "in_person"]},
            "contact": {"type": "string", "title": "电话或微信号", "maxLength": 60},
            "urgent": {"type": "boolean", "title": "您现在是否有伤害自己或他人的想法，或正处在危险中"},
            "notify": {"type": "boolean", "title": "是否同意接收预约确认和提醒（订阅消息）"},
        },
    },
}

routes = [
    (r"/api/mp/counselling/counsellors", CounsellorsHandler),
    (r"/api/mp/counselling/slots", SlotsHandler),
    (rf"/api/mp/counselling/slots/{SLOT_ID}/hold", HoldHandler),
    (r"/api/mp/counselling/bookings", MyBookingsHandler),
    (r"/api/mp/counselling/bookings/active", ActiveBookingHandler),
    (rf"/api/mp/counselling/bookings/{BOOKING_ID}/confirm", ConfirmHandler),
    (rf"/api/mp/counselling/bookings/{BOOKING_ID}/cancel", CancelHandler),
]
