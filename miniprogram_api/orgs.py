"""The org tree for pickers: an org with its path and children (public: the tree is no secret)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from core.errors import NotFound
from miniprogram_api.base import PublicMpHandler
from miniprogram_api.openapi import ok
from services.orgs import store as orgs


async def _org_or_404(handler: PublicMpHandler, code: str) -> orgs.Org:
    org = await orgs.get(handler.deps.db, code) if re.fullmatch(r"[0-9]{6,20}", code) else None
    if org is None:
        raise NotFound("没有找到该工会组织，请返回重新选择", code="org_not_found")
    return org


def _brief(org: orgs.Org) -> dict[str, Any]:
    return {"code": org.code, "name": org.name, "level": org.level}


class OrgHandler(PublicMpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["组织"],
            "summary": "工会组织：名称、上级路径与下级组织",
            "operationId": "getOrg",
            "responses": {"200": ok("Org")},
        }
    }

    async def get(self, code: str) -> None:
        org = await _org_or_404(self, code)
        path = {d["_id"]: d async for d in self.deps.db.orgs.find({"_id": {"$in": list(org.path)}})}
        children = await orgs.children(self.deps.db, code)
        self.write_json(
            {
                **_brief(org),
                "parent": org.parent,
                "path": [
                    {"code": c, "name": path[c]["name"], "level": path[c]["level"]} for c in org.path if c in path
                ],
                "children": [_brief(c) for c in children],
            }
        )


class OrgChildrenHandler(PublicMpHandler):
    openapi: ClassVar[dict[str, Any]] = {
        "get": {
            "tags": ["组织"],
            "summary": "下级工会组织（逐级选择）",
            "operationId": "getOrgChildren",
            "responses": {"200": ok("OrgList")},
        }
    }

    async def get(self, code: str) -> None:
        await _org_or_404(self, code)
        self.write_json({"items": [_brief(c) for c in await orgs.children(self.deps.db, code)]})


_BRIEF = {
    "type": "object",
    "required": ["code", "name", "level"],
    "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "level": {"type": "string"}},
}

schemas: dict[str, dict[str, Any]] = {
    "OrgBrief": _BRIEF,
    "Org": {
        "type": "object",
        "required": ["code", "name", "level", "path", "children"],
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "level": {"type": "string", "enum": list(orgs.LEVELS)},
            "parent": {"type": "string", "nullable": True},
            "path": {"type": "array", "items": {"$ref": "#/components/schemas/OrgBrief"}},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/OrgBrief"}},
        },
    },
    "OrgList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/OrgBrief"}}},
    },
}

routes = [
    (r"/api/mp/orgs/(?P<code>[^/]+)", OrgHandler),
    (r"/api/mp/orgs/(?P<code>[^/]+)/children", OrgChildrenHandler),
]
