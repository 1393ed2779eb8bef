"""GET /api/mp/home: what the mini-program opens first, for the worker's own org."""

from __future__ import annotations

from typing import Any, ClassVar

from miniprogram_api.base import MpHandler
from miniprogram_api.openapi import ok
from services.settings import home


def _strings(*names: str) -> dict[str, Any]:
    return {"type": "object", "required": list(names), "properties": {n: {"type": "string"} for n in names}}


_NAMED = _strings("key", "name", "page")
_ITEM = _strings("id", "title")

schemas: dict[str, dict[str, Any]] = {
    "Home": {
        "type": "object",
        "required": ["org", "brand", "modules", "contact", "member", "on_now"],
        "properties": {
            "org": {"type": "string", "description": "工会组织代码（未绑定会员时为省总工会）"},
            "brand": {
                "type": "object",
                "required": ["name", "banner_url", "primary_color"],
                "properties": {
                    "name": {"type": "string", "example": "齐鲁工惠·青岛行"},
                    "banner_url": {"type": "string"},
                    "primary_color": {"type": "string", "example": "#C8161D"},
                },
            },
            "modules": {"type": "array", "items": _NAMED, "description": "本市开通的模块及其小程序页面"},
            "contact": {
                "type": "object",
                "required": ["hotline", "service_centre_url"],
                "properties": {"hotline": {"type": "string"}, "service_centre_url": {"type": "string"}},
            },
            "member": {
                "type": "object",
                "required": ["bound", "bind_page"],
                "properties": {"bound": {"type": "boolean"}, "bind_page": {"type": "string"}},
            },
            "on_now": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["module", "title", "page", "items"],
                    "properties": {
                        "module": {"type": "string"},
                        "title": {"type": "string"},
                        "page": {"type": "string"},
                        "items": {"type": "array", "items": _ITEM},
                    },
                },
            },
        },
    }
}


class HomeHandler(MpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["首页"],
            "summary": "首页：本市品牌、开通的模块、热线与正在进行的投票/问卷/活动",
            "operationId": "getHome",
            "responses": {"200": ok("Home")},
        }
    }

    async def get(self) -> None:
        self.set_header("Cache-Control", "private, max-age=30")
        self.write_json(await home.home(self.deps, self.user))


routes = [(r"/api/mp/home", HomeHandler)]
