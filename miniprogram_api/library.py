"""职工书屋 in the mini-program: search, holds, my loans and renewals, the counter code, e-reading records."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from core.errors import BadInput
from miniprogram_api.base import MpHandler
from miniprogram_api.openapi import body, error, header, ok, query
from miniprogram_api.paging import KEY_PATTERN, idempotency_key
from services.library import borrowing, counter, reading

TAGS = ["职工书屋"]


class SearchHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS, "summary": "在全市或全省书屋中查找图书（书名、作者或 ISBN）", "operationId": "searchBooks",
            "parameters": [
                query("q", {"type": "string", "minLength": 1, "maxLength": 50}, "书名、作者或 ISBN", required=True),
                query("reach", {"type": "string", "enum": ["city", "province"], "default": "city"}, "本市或全省"),
                query("cursor", {"type": "string", "pattern": "^[0-9]{0,13}$"}, "上一页的 next_cursor"),
            ],
            "responses": {"200": ok("BookList")},
        }
    }  # fmt: skip

    async def get(self) -> None:
        cursor = self.get_query_argument("cursor", "", strip=False)
        if not re.fullmatch(r"[0-9]{0,13}", cursor):
            raise BadInput("cursor 不正确，请从第一页重新加载", code="invalid_field")
        q = self.get_query_argument("q", "", strip=False)
        reach = self.get_query_argument("reach", "city", strip=False)
        self.write_json(await borrowing.search(self.deps, self.user, q, reach, cursor))


class HoldsHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAGS, "summary": "预约一本书：有在架的书即为您预留 48 小时，否则进入该书的排队（跨所有书屋）",
            "operationId": "placeHold", "requestBody": body("HoldRequest"),
            "responses": {"201": ok("Hold"), "404": error("可借阅范围内没有这本书"), "409": error("已预约过这本书"),
                          "429": error("预约数量已达上限")},
        }
    }  # fmt: skip

    async def post(self) -> None:
        data = self.body("HoldRequest")
        hold = await borrowing.place_hold(self.deps, self.user, data["isbn"], data.get("reach", "city"),
                                          data.get("room", ""))  # fmt: skip
        self.write_json(hold, 201)


class HoldHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "delete": {"tags": TAGS, "summary": "取消预约", "operationId": "cancelHold",
                   "responses": {"200": ok("Cancelled")}},
    }  # fmt: skip

    async def delete(self, isbn: str) -> None:
        self.write_json(await borrowing.cancel_hold(self.deps, self.user, isbn))


class MineHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {"tags": TAGS, "summary": "我的预约与借阅（到期日、是否逾期）", "operationId": "myLibrary",
                "responses": {"200": ok("MyLibrary")}},
    }  # fmt: skip

    async def get(self) -> None:
        self.write_json(await borrowing.mine(self.deps, self.user))


class RenewHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {"tags": TAGS, "summary": "续借（每次借阅最多 2 次，每次 14 天；有人排队时不能续借）",
                 "operationId": "renewLoan",
                 "responses": {"200": ok("Renewed"), "409": error("不能续借：已逾期、有人排队或次数已用完")}},
    }  # fmt: skip

    async def post(self, copy_id: str) -> None:
        self.write_json(await borrowing.renew(self.deps, self.user, copy_id))


class CodeHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {"tags": TAGS, "summary": "借书码：在书屋柜台出示（10 分钟有效）", "operationId": "libraryCode",
                "responses": {"200": ok("LibraryCode")}},
    }  # fmt: skip

    async def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.write_json(counter.worker_code(self.deps, self.user.openid))


class PositionHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "put": {"tags": TAGS, "summary": "保存电子书阅读位置（只前进；rewind=true 表示“回到此处”）",
                "operationId": "savePosition", "requestBody": body("ReadingPosition"),
                "responses": {"200": ok("SavedPosition")}},
    }  # fmt: skip

    async def put(self, book: str) -> None:
        data = self.body("ReadingPosition")
        pos = await reading.save_position(self.deps, self.user, book, data["chapter"], data["offset"],
                                          data.get("rewind", False))  # fmt: skip
        self.write_json(pos)


class MinutesHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {"tags": TAGS, "summary": "上报阅读分钟数（每人每天最多计 240 分钟）", "operationId": "addMinutes",
                 "parameters": [header("Idempotency-Key", {"type": "string", "pattern": KEY_PATTERN},
                                       "本次上报的唯一编号：超时重试用同一编号，15 分钟内只计一次")],
                 "requestBody": body("ReadingMinutes"), "responses": {"200": ok("MinutesResult")}},
    }  # fmt: skip

    async def post(self, book: str) -> None:
        key = idempotency_key(self)
        data = self.body("ReadingMinutes")
        self.write_json(await reading.add_minutes(self.deps, self.user, book, data["minutes"], key))


class RankingsHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS, "summary": "阅读排行：所选工会下一级各单位的阅读分钟数", "operationId": "readingRankings",
            "parameters": [query("org", {"type": "string", "pattern": "^[0-9]{0,15}$"}, "工会编码，默认全省"),
                           query("days", {"type": "integer", "minimum": 1, "maximum": 366, "default": 30})],
            "responses": {"200": ok("Rankings"), "404": error("工会组织不在您的范围内")},
        }
    }  # fmt: skip

    async def get(self) -> None:
        org = self.get_query_argument("org", "", strip=False)
        days = self.get_query_argument("days", "30", strip=False)
        if not re.fullmatch(r"[0-9]{0,15}", org) or not re.fullmatch(r"[0-9]{1,3}", days):
            raise BadInput("org 应为工会编码，days 应为 1 到 366 的整数", code="invalid_field")
        self.write_json(await reading.rankings(self.deps, self.user, org, int(days)))


_S, _I, _B = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_NS = {"type": "string", "nullable": True}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": list(props) if required is None else required, "properties": props}


def _input(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": required, "additionalProperties": False, "properties": props}


_HOLD = {"isbn": _S, "status": {"type": "string", "enum": ["held", "waiting"]}, "room": _NS, "copy": _NS,
         "until": {"type": "string", "format": "date-time", "nullable": True},
         "queue_position": {"type": "integer", "nullable": True}}  # fmt: skip
_ROOM = _obj({"room": _S, "name": _S, "address": _S, "on_shelf": _I, "total": _I})

schemas: dict[str, dict[str, Any]] = {
    "Book": _obj(
        {
            "isbn": _S,
            "title": _S,
            "author": _S,
            "publisher": _S,
            "on_shelf": _I,
            "total": _I,
            "rooms": {"type": "array", "items": _ROOM},
        }
    ),  # fmt: skip
    "BookList": _obj({"items": {"type": "array", "items": {"$ref": "#/components/schemas/Book"}}, "next_cursor": _NS}),
    "HoldRequest": _input(
        {
            "isbn": {"type": "string", "minLength": 10, "maxLength": 17, "title": "ISBN"},
            "reach": {"type": "string", "enum": ["city", "province"], "title": "范围"},
            "room": {"type": "string", "maxLength": 16, "title": "指定书屋"},
        },
        ["isbn"],
    ),  # fmt: skip
    "Hold": _obj(_HOLD),
    "Cancelled": _obj({"cancelled": _B}),
    "MyLibrary": _obj(
        {
            "holds": {"type": "array", "items": _obj(_HOLD)},
            "loans": {
                "type": "array",
                "items": _obj(
                    {
                        "copy": _S,
                        "isbn": _S,
                        "room": _S,
                        "due_at": {"type": "string", "format": "date-time"},
                        "renewals": _I,
                        "overdue": _B,
                    }
                ),
            },
        }
    ),  # fmt: skip
    "Renewed": _obj({"copy": _S, "due_at": {"type": "string", "format": "date-time"}, "renewals": _I}),
    "LibraryCode": _obj({"code": _S, "expires_in": _I}),
    "ReadingPosition": _input(
        {
            "chapter": {"type": "integer", "minimum": 0, "maximum": 100000, "title": "章节"},
            "offset": {"type": "integer", "minimum": 0, "maximum": 999999999, "title": "位置"},
            "rewind": {"type": "boolean", "title": "回到此处"},
        },
        ["chapter", "offset"],
    ),  # fmt: skip
    "SavedPosition": _obj({"book": _S, "chapter": _I, "offset": _I, "moved": _B}),
    "ReadingMinutes": _input(
        {"minutes": {"type": "integer", "minimum": 1, "maximum": 30, "title": "分钟数"}}, ["minutes"]
    ),  # fmt: skip
    "MinutesResult": _obj({"added": _I, "today": _I, "cap": _I}),
    "Rankings": _obj(
        {
            "org": _S,
            "name": _S,
            "days": _I,
            "items": {
                "type": "array",
                "items": _obj({"rank": _I, "org": _S, "name": _S, "minutes": _I, "readers": _I}),
            },
        }
    ),  # fmt: skip
}

routes = [
    (r"/api/mp/library/books", SearchHandler),
    (r"/api/mp/library/holds", HoldsHandler),
    (r"/api/mp/library/holds/(?P<isbn>[^/]+)", HoldHandler),
    (r"/api/mp/library/mine", MineHandler),
    (r"/api/mp/library/loans/(?P<copy_id>[^/]+)/renew", RenewHandler),
    (r"/api/mp/library/code", CodeHandler),
    (r"/api/mp/library/ebooks/(?P<book>[^/]+)/position", PositionHandler),
    (r"/api/mp/library/ebooks/(?P<book>[^/]+)/minutes", MinutesHandler),
    (r"/api/mp/library/rankings", RankingsHandler),
]
