"""Surveys (问卷) in the mini-program: visible list, definition, server-side draft, submit, my responses.

Answers that break a question's rules come back as 400 `invalid_answers` with one Chinese message per
question: `{"code", "message", "errors": {"q3": "请至少选择 2 项", ...}}`.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from core.errors import BadInput, ServiceError
from miniprogram_api.base import MpHandler
from miniprogram_api.openapi import body, error, ok, query
from services.surveys import answering as surveys

TAGS = ["问卷"]
LIMIT_PARAM = query("limit", {"type": "integer", "minimum": 1, "maximum": 50, "default": 20})
BEFORE_PARAM = query("before", {"type": "string", "format": "date-time"}, "上一页的 next；空为第一页")
INVALID_ANSWERS = {
    "description": "答案不符合题目要求（errors 按题目给出原因）",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InvalidAnswers"}}},
}


def page_args(handler: MpHandler) -> tuple[str | None, int]:
    """`before` and `limit` query arguments, checked (shared with the activities list)."""
    raw = handler.get_query_argument("limit", "20", strip=False)
    if not re.fullmatch(r"[0-9]{1,2}", raw) or not 1 <= int(raw) <= 50:
        raise BadInput("limit 应为 1 到 50 之间的整数", code="invalid_field")
    before = handler.get_query_argument("before", None, strip=False)  # present but empty: refused
    return before, int(raw)


class DetailedErrors(MpHandler):
    """Adds a ServiceError's `extra` (the per-question `errors`) to the standard error body."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        extra = getattr(exc, "extra", None)
        if isinstance(exc, ServiceError) and isinstance(extra, dict):
            self.set_status(exc.status)
            self.finish(json.dumps({"code": exc.code, "message": exc.message, **extra}, ensure_ascii=False))
            return
        super().write_error(status_code, **kwargs)


class SurveyListHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS,
            "summary": "我能看到的问卷（本单位及上级工会发布的），按开始时间倒序",
            "operationId": "listSurveys",
            "parameters": [LIMIT_PARAM, BEFORE_PARAM],
            "responses": {"200": ok("SurveyList")},
        }
    }

    async def get(self) -> None:
        before, limit = page_args(self)
        self.write_json(await surveys.list_visible(self.deps, self.user, before=before, limit=limit))


class SurveyHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS,
            "summary": "问卷详情：题目定义（含跳题条件）与我的填写情况",
            "operationId": "getSurvey",
            "responses": {"200": ok("SurveyDetail")},
        }
    }

    async def get(self, survey_id: str) -> None:
        self.write_json(await surveys.detail(self.deps, self.user, survey_id))


class DraftHandler(DetailedErrors):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS,
            "summary": "读取我保存的草稿（没有草稿时 answers 为空）",
            "operationId": "getSurveyDraft",
            "responses": {"200": ok("SurveyDraft")},
        },
        "put": {
            "tags": TAGS,
            "summary": "保存草稿（可不完整，提交时再检查必答题）",
            "operationId": "saveSurveyDraft",
            "requestBody": body("SurveyAnswers"),
            "responses": {
                "200": ok("SurveyDraft"),
                "400": INVALID_ANSWERS,
                "403": error("仅限会员填写"),
                "409": error("问卷未开始或已结束"),
                "429": error("保存太频繁"),
            },
        },
        "delete": {
            "tags": TAGS,
            "summary": "删除草稿",
            "operationId": "deleteSurveyDraft",
            "responses": {"200": ok("Ok")},
        },
    }

    async def get(self, survey_id: str) -> None:
        self.write_json(await surveys.get_draft(self.deps, self.user, survey_id))

    async def put(self, survey_id: str) -> None:
        data = self.body("SurveyAnswers")
        await self.rate_limit("survey_draft", per_user=60, window=60, message="草稿保存太频繁，请稍后再试")
        self.write_json(await surveys.save_draft(self.deps, self.user, survey_id, data["answers"]))

    async def delete(self, survey_id: str) -> None:
        await surveys.delete_draft(self.deps, self.user, survey_id)
        self.write_json({"ok": True})


class ResponsesHandler(DetailedErrors):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS,
            "summary": "我对该问卷的提交记录",
            "operationId": "mySurveyResponses",
            "responses": {"200": ok("MySurveyResponses")},
        },
        "post": {
            "tags": TAGS,
            "summary": "提交问卷（带 client_id 的重复提交返回第一次的结果）",
            "operationId": "submitSurvey",
            "requestBody": body("SurveySubmission"),
            "responses": {
                "201": ok("SurveyResponse", "已提交"),
                "200": ok("SurveyResponse", "同一 client_id 已提交过：返回原记录"),
                "400": INVALID_ANSWERS,
                "403": error("仅限会员填写"),
                "409": error("问卷未开始、已结束，或提交次数已用完"),
                "429": error("提交太频繁"),
            },
        },
    }

    async def get(self, survey_id: str) -> None:
        self.write_json(await surveys.my_responses(self.deps, self.user, survey_id))

    async def post(self, survey_id: str) -> None:
        data = self.body("SurveySubmission")
        await self.rate_limit("survey_submit", per_user=20, window=60, message="提交太频繁，请稍后再试")
        response, created = await surveys.submit(
            self.deps, self.user, survey_id, data["answers"], client_id=data.get("client_id")
        )
        self.write_json(response, 201 if created else 200)


_TIME = {"type": "string", "format": "date-time"}
_ANSWERS = {
    "type": "object",
    "title": "答案",
    "description": "{题目 id: 答案}：单选为选项 id，多选为选项 id 数组，填空为文字，评分为整数，矩阵为 {行 id: 列 id}",
    "additionalProperties": True,
}
_SUMMARY: dict[str, Any] = {
    "id": {"type": "string"},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "org": {"type": "string"},
    "opens_at": _TIME,
    "closes_at": _TIME,
    "state": {"type": "string", "enum": ["upcoming", "open", "closed"]},
    "state_text": {"type": "string"},
    "anonymous": {"type": "boolean"},
    "members_only": {"type": "boolean"},
    "max_responses_per_user": {"type": "integer", "minimum": 0, "description": "0: unlimited"},
    "my_response_count": {"type": "integer", "minimum": 0},
    "can_respond": {"type": "boolean"},
}
_CHOICE = {
    "type": "object",
    "required": ["id", "label"],
    "properties": {"id": {"type": "string"}, "label": {"type": "string"}},
}
_RESPONSE = {
    "type": "object",
    "required": ["id", "submitted_at", "answers"],
    "properties": {"id": {"type": "string"}, "submitted_at": _TIME, "answers": {"type": "object"}},
}

schemas: dict[str, dict[str, Any]] = {
    "SurveySummary": {"type": "object", "required": list(_SUMMARY), "properties": _SUMMARY},
    "SurveyList": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/SurveySummary"}},
            "next": {"type": "string", "nullable": True, "description": "pass as `before` for the next page"},
        },
    },
    "SurveyQuestion": {
        "type": "object",
        "required": ["id", "type", "title", "required"],
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string", "enum": ["single", "multiple", "text", "rating", "matrix"]},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "required": {"type": "boolean"},
            "options": {"type": "array", "items": _CHOICE},
            "min_choices": {"type": "integer"},
            "max_choices": {"type": "integer"},
            "min_length": {"type": "integer"},
            "max_length": {"type": "integer"},
            "format": {"type": "string", "enum": ["phone", "id_card", "email"]},
            "scale_min": {"type": "integer"},
            "scale_max": {"type": "integer"},
            "min_label": {"type": "string"},
            "max_label": {"type": "string"},
            "rows": {"type": "array", "items": _CHOICE},
            "columns": {"type": "array", "items": _CHOICE},
            "show_if": {
                "type": "object",
                "description": "shown only when the answer to `question` matches one of `any_of`",
                "required": ["question", "any_of"],
                "properties": {"question": {"type": "string"}, "any_of": {"type": "array", "items": {}}},
            },
        },
    },
    "SurveyDetail": {
        "type": "object",
        "required": [*_SUMMARY, "questions", "has_draft"],
        "properties": {
            **_SUMMARY,
            "questions": {"type": "array", "items": {"$ref": "#/components/schemas/SurveyQuestion"}},
            "has_draft": {"type": "boolean"},
        },
    },
    "SurveyAnswers": {
        "type": "object",
        "required": ["answers"],
        "additionalProperties": False,
        "properties": {"answers": _ANSWERS},
    },
    "SurveySubmission": {
        "type": "object",
        "required": ["answers"],
        "additionalProperties": False,
        "properties": {
            "answers": _ANSWERS,
            "client_id": {
                "type": "string",
                "title": "提交编号",
                "minLength": 1,
                "maxLength": 64,
                "description": "client-chosen id; a retried submit with the same id is answered with the first",
            },
        },
    },
    "SurveyDraft": {
        "type": "object",
        "required": ["answers", "saved_at"],
        "properties": {"answers": {"type": "object"}, "saved_at": {**_TIME, "nullable": True}},
    },
    "SurveyResponse": _RESPONSE,
    "MySurveyResponses": {
        "type": "object",
        "required": ["items", "remaining"],
        "properties": {
            "items": {"type": "array", "items": _RESPONSE},
            "remaining": {"type": "integer", "nullable": True, "description": "null: unlimited"},
        },
    },
    "InvalidAnswers": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "errors": {"type": "object", "additionalProperties": {"type": "string"}, "description": "题目 id -> 原因"},
        },
    },
}

routes = [
    (r"/api/mp/surveys", SurveyListHandler),
    (r"/api/mp/surveys/(?P<survey_id>[^/]+)", SurveyHandler),
    (r"/api/mp/surveys/(?P<survey_id>[^/]+)/draft", DraftHandler),
    (r"/api/mp/surveys/(?P<survey_id>[^/]+)/responses", ResponsesHandler),
]
