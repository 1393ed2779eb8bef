"""阅读打卡 and reading campaigns for workers: /api/mp/library/checkins, /api/mp/library/campaigns."""

from __future__ import annotations

from typing import Any, ClassVar

from miniprogram_api.base import MpHandler
from miniprogram_api.openapi import error, ok
from services.library import checkins

TAGS = ["职工书屋"]
_S, _I = {"type": "string"}, {"type": "integer"}
_CAMPAIGN = {"id": _S, "org": _S, "title": _S, "starts_on": _S, "ends_on": _S}

schemas: dict[str, dict[str, Any]] = {
    "ReadingCheckIn": {
        "type": "object", "required": ["day", "new", "streak", "total_days"],
        "properties": {"day": _S, "new": {"type": "boolean"}, "streak": _I, "total_days": _I},
    },
    "ReadingCampaigns": {
        "type": "object", "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"type": "object", "required": list(_CAMPAIGN),
                                                            "properties": _CAMPAIGN}}},
    },
    "ReadingCampaignRanking": {
        "type": "object", "required": [*_CAMPAIGN, "items"],
        "properties": {**_CAMPAIGN, "items": {"type": "array", "items": {
            "type": "object", "required": ["rank", "org", "name", "readers", "checkins"],
            "properties": {"rank": _I, "org": _S, "name": _S, "readers": _I, "checkins": _I}}}},
    },
}  # fmt: skip


class CheckInHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": TAGS, "summary": "阅读打卡（每天一次，重复打卡不重复计数）与连续打卡天数",
            "operationId": "readingCheckIn", "responses": {"200": ok("ReadingCheckIn")},
        }
    }  # fmt: skip

    async def post(self) -> None:
        await self.rate_limit("reading_checkin", per_user=30, window=60, message="操作太频繁，请稍后再试")
        self.write_json(await checkins.check_in(self.deps, self.user))


class CampaignsHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS, "summary": "正在进行的阅读活动（如世界读书日），本单位及上级工会举办的",
            "operationId": "readingCampaigns", "responses": {"200": ok("ReadingCampaigns")},
        }
    }  # fmt: skip

    async def get(self) -> None:
        self.write_json(await checkins.campaigns(self.deps, self.user))


class CampaignRankingHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": TAGS, "summary": "阅读活动排行：举办工会下一级各单位的打卡人数与次数",
            "operationId": "readingCampaignRanking",
            "responses": {"200": ok("ReadingCampaignRanking"), "404": error("阅读活动不存在")},
        }
    }  # fmt: skip

    async def get(self, campaign_id: str) -> None:
        self.write_json(await checkins.ranking(self.deps, self.user, campaign_id))


routes = [
    (r"/api/mp/library/checkins", CheckInHandler),
    (r"/api/mp/library/campaigns", CampaignsHandler),
    (r"/api/mp/library/campaigns/(?P<campaign_id>[^/]+)/ranking", CampaignRankingHandler),
]
