"""劳动竞赛 / 安康杯 in the mini-program: my units' competitions, stage news, the published ranking."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from core.errors import BadInput
from miniprogram_api.base import MpHandler
from miniprogram_api.openapi import ok, query
from services import competitions

CURSOR_LIST = {"type": "string", "pattern": r"^([0-9a-f]{12})?$"}
CURSOR_RANK = {"type": "string", "pattern": r"^([0-9]{1,6})?$"}


def _limit(handler: MpHandler, default: str) -> int:
    raw = handler.get_query_argument("limit", default, strip=False)
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= 100:
        raise BadInput("limit 应为 1 到 100 之间的整数", code="invalid_field")
    return int(raw)


class CompetitionListHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["劳动竞赛"],
            "summary": "我能看到的竞赛：本单位参赛的，以及本单位所在工会正在公示或已结束的",
            "operationId": "listCompetitions",
            "parameters": [
                query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
                query("cursor", CURSOR_LIST, "上一页的 next_cursor；空为第一页"),
            ],
            "responses": {"200": ok("CompetitionList")},
        }
    }

    async def get(self) -> None:
        cursor = self.get_query_argument("cursor", "", strip=False)
        self.write_json(await competitions.list_for(self.deps, self.user, cursor, _limit(self, "20")))


class CompetitionHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["劳动竞赛"],
            "summary": "竞赛详情：阶段、本单位的参赛队、阶段动态",
            "operationId": "getCompetition",
            "responses": {"200": ok("CompetitionDetail")},
        }
    }

    async def get(self, competition_id: str) -> None:
        self.write_json(await competitions.detail(self.deps, self.user, competition_id))


class CompetitionRankingHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["劳动竞赛"],
            "summary": "公示期间及结束后的排名与表彰（按名次）",
            "operationId": "getCompetitionRanking",
            "parameters": [
                query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}),
                query("cursor", CURSOR_RANK, "上一页的 next_cursor；空为第一名起"),
            ],
            "responses": {"200": ok("CompetitionRanking")},
        }
    }

    async def get(self, competition_id: str) -> None:
        cursor = self.get_query_argument("cursor", "", strip=False)
        page = await competitions.ranking(self.deps, self.user, competition_id, cursor, _limit(self, "50"))
        self.write_json(page)


_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": "string", "format": "date-time", "nullable": True}
_STR = {"type": "string"}
_QUIZ = {"type": "string", "description": "安全知识竞答问卷编号（空为无），用问卷接口作答"}
_SUMMARY: dict[str, Any] = {
    "id": _STR,
    "title": _STR,
    "kind": {"type": "string", "enum": ["labour", "skills", "ankang"]},
    "kind_name": _STR,
    "org": _STR,
    "status": {"type": "string", "enum": ["registration", "in_progress", "judging", "publicity", "final"]},
    "status_name": _STR,
    "publicity_ends_at": _NTIME,
}


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(props), "properties": props}


schemas: dict[str, dict[str, Any]] = {
    "CompetitionSummary": _obj(_SUMMARY),
    "CompetitionList": _obj(
        {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/CompetitionSummary"}},
            "next_cursor": {"type": "string", "nullable": True},
        }
    ),
    "CompetitionDetail": _obj(
        {
            **_SUMMARY,
            "description": _STR,
            "registration_deadline": _TIME,
            "stages": {
                "type": "array",
                "items": _obj(
                    {
                        "id": _STR,
                        "name": _STR,
                        "quiz_survey": {**_STR, "description": "安全知识竞答问卷编号（空为无），用问卷接口作答"},
                    }
                ),
            },
            "my_entries": {"type": "array", "items": _obj({"name": _STR, "org": _STR})},
            "news": {"type": "array", "items": _obj({"stage": _STR, "title": _STR, "text": _STR, "at": _TIME})},
        }
    ),
    "CompetitionRanking": _obj(
        {
            "id": _STR,
            "status": {"type": "string", "enum": ["publicity", "final"]},
            "publicity_ends_at": _NTIME,
            "items": {
                "type": "array",
                "items": _obj({"rank": {"type": "integer"}, "name": _STR, "score": {"type": "number"}, "award": _STR}),
            },
            "next_cursor": {"type": "string", "nullable": True},
        }
    ),
}

routes = [
    (r"/api/mp/competitions", CompetitionListHandler),
    (r"/api/mp/competitions/(?P<competition_id>[^/]+)", CompetitionHandler),
    (r"/api/mp/competitions/(?P<competition_id>[^/]+)/ranking", CompetitionRankingHandler),
]
