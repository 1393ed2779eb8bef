"""抽奖 in the mini-program: lotteries I can see, entering (抽签码), my entry with its proof, instant plays,
and the published draw that anyone can recompute with `python -m tools.verify_draw`."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from core.errors import BadInput
from miniprogram_api.base import MpHandler, PublicMpHandler
from miniprogram_api.openapi import error, ok, query
from services.lotteries import entering, instant, views

TAGS = ["抽奖"]


class LotteryListHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS,
            "summary": "我能看到的抽奖（本单位及上级工会发布的），新的在前",
            "operationId": "listLotteries",
            "parameters": [
                query(
                    "state",
                    {"type": "string", "enum": ["all", "live"], "default": "all"},
                    "live：报名中或公示中（首页）",
                ),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 50, "default": 20}),
                query("cursor", {"type": "string", "pattern": r"^\d{0,13}$"}, "上一页的 next_cursor；空为第一页"),
            ],
            "responses": {"200": ok("LotteryList")},
        }
    }

    async def get(self) -> None:
        raw_limit = self.get_query_argument("limit", "20", strip=False)
        if not re.fullmatch(r"[0-9]{1,2}", raw_limit) or not 1 <= int(raw_limit) <= 50:
            raise BadInput("limit 应为 1 到 50 之间的整数", code="invalid_field")
        cursor = self.get_query_argument("cursor", "", strip=False)
        if not re.fullmatch(r"\d{0,13}", cursor):
            raise BadInput("cursor 不正确，请使用上一页返回的 next_cursor", code="invalid_field")
        state = self.get_query_argument("state", "all", strip=False)
        if state not in ("all", "live"):
            raise BadInput("state 只能是 all 或 live", code="invalid_field")
        page = await entering.list_visible(
            self.deps, self.user, cursor=cursor, limit=int(raw_limit), live=state == "live"
        )
        self.write_json(page)


class LotteryHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS,
            "summary": "抽奖详情：奖项、承诺值（开奖前公布的种子哈希）、名单默克尔根、随机数信标、公示名单",
            "operationId": "getLottery",
            "responses": {"200": ok("LotteryDetail")},
        }
    }

    async def get(self, lottery_id: str) -> None:
        self.write_json(await entering.detail(self.deps, self.user, lottery_id))


class EntryHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAGS,
            "summary": "报名抽奖（每位会员一次；重复报名返回同一个抽签码）",
            "operationId": "enterLottery",
            "responses": {
                "201": ok("LotteryEntry", "报名成功"),
                "200": ok("LotteryEntry", "已报名过，返回原抽签码"),
                "403": error("仅限已绑定的工会会员（附绑定页面路径）"),
                "409": error("报名已截止，或该抽奖为即开型"),
                "429": error("操作太频繁"),
            },
        }
    }

    async def post(self, lottery_id: str) -> None:
        await self.rate_limit("lottery_enter", per_user=20, per_ip=3000, window=60)
        got = await entering.enter(self.deps, self.user, lottery_id)
        self.write_json(got, 201 if got["created"] else 200)


class MyEntryHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS,
            "summary": "我的抽签码、它在名单默克尔树中的证明（截止后）与我的结果（公示后）",
            "operationId": "myLotteryEntry",
            "responses": {"200": ok("MyLotteryEntry"), "403": error("仅限已绑定的工会会员")},
        }
    }

    async def get(self, lottery_id: str) -> None:
        self.write_json(await entering.my_entry(self.deps, self.user, lottery_id))


class PlayHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAGS,
            "summary": "即开型抽奖：抽一次（每人一次，或每人每天一次；重试返回第一次的结果）",
            "operationId": "playLottery",
            "responses": {
                "200": ok("LotteryPlay"),
                "403": error("仅限已绑定的工会会员（附绑定页面路径）"),
                "409": error("抽奖未开始、已结束，或该抽奖需先报名"),
                "429": error("操作太频繁"),
            },
        }
    }

    async def post(self, lottery_id: str) -> None:
        await self.rate_limit("lottery_play", per_user=20, per_ip=3000, window=60)
        self.write_json(await instant.play(self.deps, self.user, lottery_id))


class PublicationHandler(PublicMpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS,
            "summary": "公示的开奖数据（服务器种子、信标、全部抽签码、顺序、中奖名单），"
            "任何人可用 python -m tools.verify_draw 复算",
            "operationId": "lotteryPublication",
            "responses": {"200": ok("LotteryPublication"), "429": error("下载太频繁")},
        }
    }

    async def get(self, lottery_id: str) -> None:
        await self.rate_limit("lottery_publication", per_ip=600, window=60)
        self.write_json(await views.publication(self.deps, lottery_id))


_T = {"type": "string", "format": "date-time", "nullable": True}
_CODE_LIST = {"type": "array", "items": {"type": "string"}}
_WINNER = {
    "type": "object",
    "required": ["tier", "code"],
    "properties": {"tier": {"type": "string"}, "code": {"type": "string"}},
}
_OUT = {
    "type": "object",
    "required": ["code", "reason"],
    "properties": {"code": {"type": "string"}, "reason": {"type": "string"}},
}
_SUMMARY: dict[str, Any] = {
    "id": {"type": "string"},
    "title": {"type": "string"},
    "mode": {"type": "string", "enum": ["draw", "instant"]},
    "org": {"type": "string"},
    "state": {"type": "string", "enum": ["open", "closed", "drawn", "publicized", "finalizing", "final"]},
    "state_name": {"type": "string"},
    "entries_until": _T,
    "starts_at": _T,
    "ends_at": _T,
    "created_at": {"type": "string", "format": "date-time"},
}

schemas: dict[str, dict[str, Any]] = {
    "LotterySummary": {"type": "object", "required": list(_SUMMARY), "properties": _SUMMARY},
    "LotteryList": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/LotterySummary"}},
            "next_cursor": {"type": "string", "nullable": True},
        },
    },
    "LotteryDetail": {
        "type": "object",
        "required": [*_SUMMARY, "tiers", "commitment", "merkle_root", "beacon", "winners", "disqualified"],
        "properties": {
            **_SUMMARY,
            "description": {"type": "string"},
            "tiers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "title", "count", "percent"],
                    "properties": {
                        "name": {"type": "string"},
                        "title": {"type": "string"},
                        "count": {"type": "integer"},
                        "percent": {"type": "number", "description": "即开型的中奖概率（%）"},
                    },
                },
            },
            "commitment": {"type": "string", "description": "SHA-256(server_seed)，创建时公布"},
            "entry_count": {"type": "integer", "nullable": True},
            "merkle_root": {"type": "string", "description": "截止时公布的排序抽签码默克尔根"},
            "beacon": {
                "type": "object",
                "required": ["kind", "round", "expected_at", "description", "value"],
                "properties": {
                    "kind": {"type": "string"},
                    "base_url": {"type": "string"},
                    "round": {"type": "integer", "nullable": True},
                    "expected_at": _T,
                    "description": {"type": "string"},
                    "value": {"type": "string", "description": "开奖后公布"},
                },
            },
            "winners": {"type": "array", "items": _WINNER},
            "disqualified": {"type": "array", "items": _OUT},
            "publicity_until": _T,
            "per_day": {"type": "boolean"},
        },
    },
    "LotteryEntry": {
        "type": "object",
        "required": ["code", "created", "entered_at"],
        "properties": {
            "code": {"type": "string", "description": "抽签码（公示名单中只出现抽签码）"},
            "created": {"type": "boolean"},
            "entered_at": {"type": "string", "format": "date-time"},
        },
    },
    "MyLotteryEntry": {
        "type": "object",
        "required": ["code", "entered_at", "proof", "result", "tier"],
        "properties": {
            "code": {"type": "string"},
            "entered_at": {"type": "string", "format": "date-time"},
            "proof": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["side", "hash"],
                    "properties": {"side": {"type": "string", "enum": ["L", "R"]}, "hash": {"type": "string"}},
                },
            },
            "result": {"type": "string", "enum": ["pending", "won", "lost", "disqualified"]},
            "tier": {"type": "string"},
        },
    },
    "LotteryPlay": {
        "type": "object",
        "required": ["result", "tier", "title", "entitlement_id", "replayed", "again"],
        "properties": {
            "result": {"type": "string", "enum": ["won", "fallback", "none"]},
            "tier": {"type": "string"},
            "title": {"type": "string"},
            "entitlement_id": {"type": "string", "description": "奖品券编号（在“我的券”中核销）；未中奖为空"},
            "replayed": {"type": "boolean", "description": "true：已抽过，返回第一次的结果"},
            "again": {"type": "string"},
        },
    },
    "LotteryPublication": {
        "type": "object",
        "required": [
            "lottery_id",
            "commitment",
            "server_seed",
            "beacon",
            "merkle_root",
            "entries",
            "tiers",
            "order",
            "disqualified",
            "winners",
        ],  # fmt: skip
        "properties": {
            "lottery_id": {"type": "string"},
            "title": {"type": "string"},
            "algorithm": {"type": "string"},
            "commitment": {"type": "string"},
            "server_seed": {"type": "string"},
            "beacon": {"type": "object"},
            "merkle_root": {"type": "string"},
            "entries": _CODE_LIST,
            "tiers": {"type": "array", "items": {"type": "object"}},
            "order": _CODE_LIST,
            "disqualified": {"type": "array", "items": _OUT},
            "winners": {"type": "array", "items": _WINNER},
        },
    },
}

routes = [
    (r"/api/mp/lotteries", LotteryListHandler),
    (r"/api/mp/lotteries/(?P<lottery_id>[^/]+)", LotteryHandler),
    (r"/api/mp/lotteries/(?P<lottery_id>[^/]+)/entries", EntryHandler),
    (r"/api/mp/lotteries/(?P<lottery_id>[^/]+)/entries/mine", MyEntryHandler),
    (r"/api/mp/lotteries/(?P<lottery_id>[^/]+)/plays", PlayHandler),
    (r"/api/mp/lotteries/(?P<lottery_id>[^/]+)/publication", PublicationHandler),
]
