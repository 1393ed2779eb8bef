"""Login, logout and "who am I" for the mini-program."""

from __future__ import annotations

from typing import Any, ClassVar

from miniprogram_api.base import MpHandler, PublicMpHandler
from miniprogram_api.openapi import body, error, ok
from services.members import binding as members
from services.members import sessions

LOGIN_PER_IP_PER_MINUTE = 600  # a factory's shared Wi-Fi logs in hundreds of workers at 8:00


class LoginHandler(PublicMpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": ["登录"],
            "summary": "用 wx.login 的 code 换取登录令牌",
            "operationId": "login",
            "requestBody": body("LoginRequest"),
            "responses": {
                "200": ok("LoginResponse"),
                "429": error("请求太频繁"),
                "503": error("微信登录服务暂时不可用"),
            },
        }
    }

    async def post(self) -> None:
        data = self.body("LoginRequest")
        await self.rate_limit("login", per_ip=LOGIN_PER_IP_PER_MINUTE, window=60)
        result = await sessions.login(self.deps, data["code"])
        self.write_json(
            {
                "token": result.token,
                "token_type": "Bearer",
                "expires_in": result.expires_in,
                "is_new": result.is_new,
                "bound": result.user.is_member,
            }
        )


class LogoutHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "post": {
            "tags": ["登录"],
            "summary": "退出登录（all=true 时退出该用户的所有设备）",
            "operationId": "logout",
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LogoutRequest"}}},
            },
            "responses": {"200": ok("Ok")},
        }
    }

    async def post(self) -> None:
        data = self.body("LogoutRequest") if self.request.body else {}
        if data.get("all"):
            await sessions.logout_everywhere(self.deps, self.user.openid)
        else:
            await sessions.logout(self.deps, self.bearer_token())
        self.write_json({"ok": True})


class MeHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["登录"],
            "summary": "当前用户：是否已绑定会员、所属工会",
            "operationId": "me",
            "responses": {"200": ok("Me")},
        }
    }

    async def get(self) -> None:
        self.write_json(await members.me(self.deps, self.user))


_ORG_REF = {"$ref": "#/components/schemas/OrgRef"}

schemas: dict[str, dict[str, Any]] = {
    "LoginRequest": {
        "type": "object",
        "required": ["code"],
        "additionalProperties": False,
        "properties": {"code": {"type": "string", "title": "登录凭证", "minLength": 1, "maxLength": 128}},
    },
    "LoginResponse": {
        "type": "object",
        "required": ["token", "token_type", "expires_in", "is_new", "bound"],
        "properties": {
            "token": {"type": "string", "description": "Send as `Authorization: Bearer <token>`."},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer", "description": "Idle seconds before the token expires."},
            "is_new": {"type": "boolean"},
            "bound": {"type": "boolean", "description": "Bound to a union member already."},
        },
    },
    "LogoutRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"all": {"type": "boolean", "title": "退出所有设备"}},
    },
    "Ok": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}},
    "OrgRef": {
        "type": "object",
        "required": ["code", "name"],
        "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "level": {"type": "string"}},
    },
    "Me": {
        "type": "object",
        "required": ["bound", "org_path", "official_account_linked"],
        "properties": {
            "bound": {"type": "boolean"},
            "member": {
                "type": "object",
                "required": ["name", "member_no", "phone"],
                "properties": {
                    "name": {"type": "string"},
                    "member_no": {"type": "string", "description": "masked"},
                    "phone": {"type": "string", "description": "masked"},
                },
            },
            "org": _ORG_REF,
            "org_path": {"type": "array", "items": _ORG_REF},
            "official_account_linked": {"type": "boolean"},
        },
    },
}

routes = [
    (r"/api/mp/login", LoginHandler),
    (r"/api/mp/logout", LogoutHandler),
    (r"/api/mp/me", MeHandler),
]
