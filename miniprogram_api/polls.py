"""Votes (投票) in the mini-program: visible polls, a poll with live counts and ranking, casting, my ballots."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from core.errors import BadInput
from miniprogram_api.base import MpHandler
from miniprogram_api.openapi import body, error, header, ok, query
from miniprogram_api.paging import KEY_PATTERN, idempotency_key
from services.polls import voting as votes

STATES = ("all", "open", "ended")


class PollListHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["投票"],
            "summary": "我能看到的投票（本单位及上级工会发布的），按开始时间倒序",
            "operationId": "listPolls",
            "parameters": [
                query("state", {"type": "string", "enum": list(STATES), "default": "all"}, "open 进行中，ended 已结束"),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 50, "default": 20}),
                query(
                    "cursor",
                    {"type": "string", "pattern": r"^(\d{1,13}\.[0-9a-f]{12})?$"},
                    "上一页的 next_cursor；空为第一页",
                ),
            ],
            "responses": {"200": ok("PollList")},
        }
    }

    async def get(self) -> None:
        state = self.get_query_argument("state", "all", strip=False)
        if state not in STATES:
            raise BadInput("state 只能是 all、open 或 ended", code="invalid_field")
        raw_limit = self.get_query_argument("limit", "20", strip=False)
        if not re.fullmatch(r"[0-9]{1,2}", raw_limit) or not 1 <= int(raw_limit) <= 50:
            raise BadInput("limit 应为 1 到 50 之间的整数", code="invalid_field")
        cursor = self.get_query_argument("cursor", "", strip=False)
        page = await votes.list_polls(self.deps, self.user, state=state, cursor=cursor, limit=int(raw_limit))
        self.write_json(page)


class PollHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["投票"],
            "summary": "投票详情：选项、实时票数与排名、我的剩余次数",
            "operationId": "getPoll",
            "responses": {"200": ok("PollDetail"), "503": error("统计正在恢复")},
        }
    }

    async def get(self, poll_id: str) -> None:
        self.write_json(await votes.detail(self.deps, self.user, poll_id))


class BallotHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": ["投票"],
            "summary": "投票（单选传 1 个选项，多选不超过 max_choices 个）",
            "operationId": "castBallot",
            "parameters": [
                header(
                    "Idempotency-Key",
                    {"type": "string", "pattern": KEY_PATTERN},
                    "本次投票的唯一编号（建议每次点击生成一个 UUID）：网络超时后用同一编号重试，"
                    "15 分钟内只计一票并返回第一次的结果（响应头 Idempotent-Replayed: true）",
                )
            ],
            "requestBody": body("BallotRequest"),
            "responses": {
                "201": ok("BallotAccepted", "已计票"),
                "403": error("仅限会员参与"),
                "409": error("投票未开始、已结束，投票次数已用完，或该请求编号已用于另一次投票"),
                "429": error("投票太频繁"),
                "503": error("统计正在恢复，请稍后重试"),
            },
        }
    }

    async def post(self, poll_id: str) -> None:
        key = idempotency_key(self)
        data = self.body("BallotRequest")
        cast = await votes.cast(self.deps, self.user, poll_id, data["options"], self.client_ip(), key)
        if cast.replayed:
            self.set_header("Idempotent-Replayed", "true")
        self.write_json(cast.answer(), 201)


class MyBallotsHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["投票"],
            "summary": "我在该投票中投出的票",
            "operationId": "myBallots",
            "responses": {"200": ok("MyBallots")},
        }
    }

    async def get(self, poll_id: str) -> None:
        self.write_json(await votes.my_ballots(self.deps, self.user, poll_id))


_TIME = {"type": "string", "format": "date-time"}
_SUMMARY_PROPS: dict[str, Any] = {
    "id": {"type": "string"},
    "title": {"type": "string"},
    "cover_url": {"type": "string"},
    "org": {"type": "string", "description": "owner org code"},
    "opens_at": _TIME,
    "closes_at": _TIME,
    "state": {"type": "string", "enum": ["upcoming", "open", "ended"]},
    "members_only": {"type": "boolean"},
    "total_ballots": {"type": "integer"},
    "voters": {"type": "integer"},
}
_SUMMARY_REQUIRED = list(_SUMMARY_PROPS)

schemas: dict[str, dict[str, Any]] = {
    "PollSummary": {"type": "object", "required": _SUMMARY_REQUIRED, "properties": _SUMMARY_PROPS},
    "PollList": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/PollSummary"}},
            "next_cursor": {"type": "string", "nullable": True},
        },
    },
    "PollOption": {
        "type": "object",
        "required": ["id", "title", "description", "image_url", "count", "rank"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "image_url": {"type": "string"},
            "count": {"type": "integer", "minimum": 0},
            "rank": {"type": "integer", "minimum": 1},
        },
    },
    "PollDetail": {
        "type": "object",
        "required": [*_SUMMARY_REQUIRED, "description", "multiple", "max_choices", "limit", "options", "my"],
        "properties": {
            **_SUMMARY_PROPS,
            "description": {"type": "string"},
            "multiple": {"type": "boolean"},
            "max_choices": {"type": "integer", "minimum": 1},
            "limit": {
                "type": "object",
                "required": ["per", "count"],
                "properties": {"per": {"type": "string", "enum": ["day", "poll"]}, "count": {"type": "integer"}},
            },
            "options": {"type": "array", "items": {"$ref": "#/components/schemas/PollOption"}},
            "my": {
                "type": "object",
                "required": ["used", "remaining", "can_vote", "reason"],
                "properties": {
                    "used": {"type": "integer"},
                    "remaining": {"type": "integer"},
                    "can_vote": {"type": "boolean"},
                    "reason": {"type": "string", "description": "why not, in Chinese; empty when can_vote"},
                },
            },
        },
    },
    "BallotRequest": {
        "type": "object",
        "required": ["options"],
        "additionalProperties": False,
        "properties": {
            "options": {
                "type": "array",
                "title": "所选选项",
                "minItems": 1,
                "maxItems": 200,
                "uniqueItems": True,
                "items": {"type": "string", "title": "选项编号", "minLength": 1, "maxLength": 16},
            }
        },
    },
    "BallotAccepted": {
        "type": "object",
        "required": ["ballot_id", "remaining"],
        "properties": {
            "ballot_id": {"type": "string"},
            "remaining": {"type": "integer", "minimum": 0, "description": "ballots left today or in the poll"},
        },
    },
    "MyBallots": {
        "type": "object",
        "required": ["items", "used", "remaining"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "options", "at"],
                    "properties": {
                        "id": {"type": "string"},
                        "options": {"type": "array", "items": {"type": "string"}},
                        "at": _TIME,
                    },
                },
            },
            "used": {"type": "integer"},
            "remaining": {"type": "integer"},
        },
    },
}

routes = [
    (r"/api/mp/polls", PollListHandler),
    (r"/api/mp/polls/(?P<poll_id>[^/]+)", PollHandler),
    (r"/api/mp/polls/(?P<poll_id>[^/]+)/ballots", BallotHandler),
    (r"/api/mp/polls/(?P<poll_id>[^/]+)/ballots/mine", MyBallotsHandler),
]
