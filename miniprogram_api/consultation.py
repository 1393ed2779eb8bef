"""惠工咨询 / 法律援助 in the mini-program: open a case, my cases, a case page, write again, reopen.

The mini-program's pages `pages/cases/index` (my cases; `state=open` for the home page) and
`pages/cases/detail?id=<case>` (the case page the bot and the notices link to) read these APIs.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar

from core.clock import from_timestamp
from core.errors import BadInput
from miniprogram_api.base import MpHandler
from miniprogram_api.openapi import body, error, header, ok, query
from miniprogram_api.paging import KEY_PATTERN
from services.consultation import asking, crisis_check, people
from services.consultation.model import CATEGORIES

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")
CASE_ID = r"(?P<case_id>[0-9]{6}[0-9A-F]{8})"
PAGE_SIZE = 20
_IDEM_HEADER = header(
    "Idempotency-Key",
    {"type": "string", "pattern": KEY_PATTERN},
    "本次提交的唯一编号：网络超时后用同一编号重试，只会登记一个咨询并返回它（响应头 Idempotent-Replayed: true）",
)


def _iso(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso(v) for v in value]
    return value.isoformat() if isinstance(value, datetime) else value


_IDEM_MSG = header(
    "Idempotency-Key",
    {"type": "string", "pattern": KEY_PATTERN},
    "本条补充的唯一编号：网络超时后用同一编号重试，只会记录一次",
)


def _idem(handler: MpHandler) -> str:
    if "Idempotency-Key" not in handler.request.headers:
        return ""
    key = handler.request.headers["Idempotency-Key"]
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise BadInput("Idempotency-Key 应为 8 到 64 位字母、数字、- 或 _", code="invalid_idempotency_key")
    return key


class CaseListHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["惠工咨询"],
            "summary": "我的咨询（新的在前）",
            "operationId": "listMyCases",
            "parameters": [
                query(
                    "state", {"type": "string", "enum": ["all", "open"], "default": "all"}, "open：进行中的（首页用）"
                ),
                query("cursor", {"type": "string", "pattern": r"^([0-9]{1,13})?$"}, "上一页的 next_cursor"),
            ],
            "responses": {"200": ok("CaseList")},
        },
        "post": {
            "tags": ["惠工咨询"],
            "summary": "提交咨询（欠薪、工伤、劳动合同、社保、其他）；可选择对本企业工会匿名",
            "operationId": "openCase",
            "parameters": [_IDEM_HEADER],
            "requestBody": body("NewCase"),
            "responses": {
                "201": ok("CaseDetail", "已登记"),
                "409": error("同一类别已有正在处理的咨询"),
                "429": error("今天提交的咨询已达 5 个"),
            },
        },
    }

    async def get(self) -> None:
        raw = self.get_query_argument("cursor", "", strip=False)
        if raw and not re.fullmatch(r"[0-9]{1,13}", raw):
            raise BadInput("cursor 不正确", code="invalid_field")
        state = self.get_query_argument("state", "all", strip=False)
        if state not in ("all", "open"):
            raise BadInput("state 只能是 all 或 open", code="invalid_field")
        who = await people.from_mini_program(self.deps.db, self.user)
        before = from_timestamp(int(raw) / 1000) if raw else None
        items, cursor = await asking.my_cases(self.deps, who, open_only=state == "open", before=before, limit=PAGE_SIZE)
        self.write_json(_iso({"items": items, "next_cursor": cursor}))

    async def post(self) -> None:
        key = _idem(self)
        new = asking.parse_new(self.body("NewCase"))
        await self.rate_limit("consult.open", per_user=20, per_ip=600, window=3600)
        who = await people.from_mini_program(self.deps.db, self.user)
        doc, replayed = await asking.open_case(self.deps, who, new, channel="mp", idem=key)
        if replayed:
            self.set_header("Idempotent-Replayed", "true")
        help_text = None if replayed else await crisis_check.help_for(self.deps, who, new.text)
        self.write_json(_iso({**asking.worker_view(doc), "crisis_help": help_text}), 201)


class CaseHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["惠工咨询"],
            "summary": "咨询页面：工会的全部答复与我补充的内容",
            "operationId": "getCase",
            "responses": {"200": ok("CaseDetail")},
        }
    }

    async def get(self, case_id: str) -> None:
        who = await people.from_mini_program(self.deps.db, self.user)
        self.write_json(_iso(asking.worker_view(await asking.own_case(self.deps, who, case_id))))


class CaseMessageHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": ["惠工咨询"],
            "summary": "补充说明（咨询回到工作人员面前，计时继续）",
            "operationId": "writeToCase",
            "parameters": [_IDEM_MSG],
            "requestBody": body("CaseMessage"),
            "responses": {"200": ok("CaseDetail"), "409": error("咨询已结束")},
        }
    }

    async def post(self, case_id: str) -> None:
        data = self.body("CaseMessage")
        await self.rate_limit("consult.write", per_user=60, per_ip=1200, window=3600)
        who = await people.from_mini_program(self.deps.db, self.user)
        atts = asking.parse_attachments(data.get("attachments"))
        doc = await asking.write_again(self.deps, who, case_id, data["text"], atts, idem=_idem(self))
        help_text = await crisis_check.help_for(self.deps, who, data["text"])
        self.write_json(_iso({**asking.worker_view(doc), "crisis_help": help_text}))


class CaseReopenHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": ["惠工咨询"],
            "summary": "重新打开已解决的咨询（30 天内）",
            "operationId": "reopenCase",
            "requestBody": body("CaseMessage"),
            "responses": {"200": ok("CaseDetail"), "409": error("不能重新打开：未结束、超过 30 天或同类咨询正在处理")},
        }
    }

    async def post(self, case_id: str) -> None:
        data = self.body("CaseMessage")
        who = await people.from_mini_program(self.deps.db, self.user)
        doc = await asking.reopen(self.deps, who, case_id, data["text"])
        self.write_json(_iso(asking.worker_view(doc)))


_TIME = {"type": "string", "format": "date-time"}
_SUMMARY: dict[str, Any] = {
    "id": {"type": "string"},
    "category": {"type": "string", "enum": list(CATEGORIES)},
    "category_name": {"type": "string"},
    "state": {"type": "string"},
    "state_name": {"type": "string"},
    "opened_at": _TIME,
    "updated_at": _TIME,
    "page": {"type": "string", "description": "mini-program page of the case"},
}
_TEXT = {"type": "string", "title": "问题描述", "minLength": 5, "maxLength": 2000}
_ATTACHMENTS = {
    "type": "array",
    "title": "附件（微信素材 media_id）",
    "maxItems": 9,
    "items": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"},
}

schemas: dict[str, dict[str, Any]] = {
    "CaseSummary": {"type": "object", "required": list(_SUMMARY), "properties": _SUMMARY},
    "CaseList": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/CaseSummary"}},
            "next_cursor": {"type": "string", "nullable": True},
        },
    },
    "CaseDetail": {
        "type": "object",
        "required": [*_SUMMARY, "text", "attachments", "anonymous", "messages", "can_write", "can_reopen"],
        "properties": {
            **_SUMMARY,
            "text": {"type": "string"},
            "attachments": {"type": "array", "items": {"type": "string"}},
            "anonymous": {"type": "boolean"},
            "can_write": {"type": "boolean"},
            "can_reopen": {"type": "boolean"},
            "crisis_help": {
                "type": "string",
                "nullable": True,
                "description": "危机求助提示（含 12356、110/120 热线），只在刚提交的文字含危机词时返回",
            },
            "messages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["from", "text", "at", "kind"],
                    "properties": {
                        "from": {"type": "string", "enum": ["staff", "worker"]},
                        "text": {"type": "string"},
                        "at": _TIME,
                        "kind": {"type": "string"},
                    },
                },
            },
        },
    },
    "NewCase": {
        "type": "object",
        "required": ["category", "text"],
        "additionalProperties": False,
        "properties": {
            "category": {"type": "string", "title": "咨询类别", "enum": [*CATEGORIES, *CATEGORIES.values()]},
            "text": _TEXT,
            "anonymous": {"type": "boolean", "title": "对本企业工会匿名"},
            "attachments": _ATTACHMENTS,
        },
    },
    "CaseMessage": {
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {"text": _TEXT, "attachments": _ATTACHMENTS},
    },
}

routes = [
    (r"/api/mp/cases", CaseListHandler),
    (rf"/api/mp/cases/{CASE_ID}", CaseHandler),
    (rf"/api/mp/cases/{CASE_ID}/messages", CaseMessageHandler),
    (rf"/api/mp/cases/{CASE_ID}/reopen", CaseReopenHandler),
]
