"""生日 in the mini-program: my birthday (only I see it) and this year's gift."""

from __future__ import annotations

from typing import Any, ClassVar

from miniprogram_api.base import MpHandler
from miniprogram_api.openapi import ok
from services.birthdays.mine import my_birthday


class MyBirthdayHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["生日"],
            "summary": "我的生日（月-日，仅本人可见）、所在工会的生日礼品与今年的礼品券",
            "operationId": "myBirthday",
            "responses": {"200": ok("MyBirthday")},
        }
    }

    async def get(self) -> None:
        self.write_json(await my_birthday(self.deps, self.user))


schemas: dict[str, dict[str, Any]] = {
    "MyBirthday": {
        "type": "object",
        "required": ["bound", "birth_md", "birthday", "policy", "gift"],
        "properties": {
            "bound": {"type": "boolean", "description": "false：尚未绑定会员，请先绑定（pages/member/bind）"},
            "birth_md": {"type": "string", "description": "MM-DD；名册中没有生日时为空"},
            "birthday": {
                "type": "string",
                "format": "date",
                "nullable": True,
                "description": "今年的生日（2 月 29 日在平年为 2 月 28 日）",
            },
            "policy": {
                "type": "object",
                "nullable": True,
                "required": ["title", "window_days"],
                "properties": {"title": {"type": "string"}, "window_days": {"type": "integer"}},
            },
            "gift": {
                "type": "object",
                "nullable": True,
                "required": ["entitlement_id", "title", "status", "expires_at"],
                "properties": {
                    "entitlement_id": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "string"},
                    "expires_at": {"type": "string", "format": "date-time"},
                },
            },
        },
    },
}

routes = [(r"/api/mp/birthday", MyBirthdayHandler)]
