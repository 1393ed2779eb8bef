"""Binding the logged-in user to a union member (once), by name + phone or name + member number."""

from __future__ import annotations

from typing import Any, ClassVar

from miniprogram_api.base import MpHandler
from miniprogram_api.openapi import body, error, ok
from services.members import binding as members

# Guessing a stranger's roster entry must be slow: 5 tries per user and 60 per IP every 10 minutes.
BIND_PER_USER, BIND_PER_IP, BIND_WINDOW = 5, 60, 600


class BindHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": ["会员"],
            "summary": "绑定工会会员（姓名+手机号，或姓名+会员编号），每个微信账号只能绑定一次",
            "operationId": "bindMember",
            "requestBody": body("BindRequest"),
            "responses": {
                "200": ok("Me", "绑定成功，返回新的个人信息"),
                "409": error("已绑定，或该会员已被其他账号绑定"),
                "429": error("尝试次数过多"),
            },
        }
    }

    async def post(self) -> None:
        data = self.body("BindRequest")
        req = members.parse_bind_request(data["name"], data.get("phone"), data.get("member_no"))
        await self.rate_limit(
            "bind", per_user=BIND_PER_USER, per_ip=BIND_PER_IP, window=BIND_WINDOW,
            message="绑定尝试次数过多，请 10 分钟后再试；如信息有误，请联系所在工会",
        )  # fmt: skip
        profile = await members.bind(self.deps, self.user, req)
        self.write_json(profile)


schemas: dict[str, dict[str, Any]] = {
    "BindRequest": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "description": "name plus exactly one of phone, member_no",
        "properties": {
            "name": {"type": "string", "title": "姓名", "minLength": 1, "maxLength": 40},
            "phone": {"type": "string", "title": "手机号", "minLength": 11, "maxLength": 20},
            "member_no": {"type": "string", "title": "会员编号", "minLength": 4, "maxLength": 32},
        },
    },
}

routes = [(r"/api/mp/members/bind", BindHandler)]
