"""The OpenAPI 3 document of `/api/mp/`, assembled from the code so that it cannot drift.

Convention (docs/ARCHITECTURE.md): every API handler class carries `openapi: ClassVar[dict]`, an OpenAPI
path item (method -> operation) whose bodies and responses use `$ref: '#/components/schemas/<Name>'`;
each handler module exports `schemas: dict[str, dict]`. This module walks `app.route_table()`, turns
Tornado patterns into OpenAPI paths (`(?P<poll_id>[^/]+)` -> `{poll_id}`; unnamed groups take the name of
the handler method's parameter), and adds what the code already knows: path parameters, the bearer
security of `MpHandler` subclasses, and the generic errors (400, 401, 404, 503) they can answer.
"""

from __future__ import annotations

import copy
import inspect
import re
import sys
from typing import Any, ClassVar

import tornado.web

from miniprogram_api.base import MpHandler, PublicMpHandler

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
API_PREFIX = "/api/mp/"  # the mini-program API; the console documents /api/admin/ its own way

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "description": "Stable machine-readable code, e.g. `poll_closed`."},
        "message": {"type": "string", "description": "中文提示，可直接展示给用户"},
    },
}

GENERIC_ERRORS = {
    "400": "请求不合法（JSON 格式、字段缺失、多余字段或类型错误）",
    "401": "未登录或登录已过期",
    "404": "资源不存在或无权查看",
    "503": "服务繁忙，请稍后重试",
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def ok(schema: str | dict[str, Any], description: str = "成功") -> dict[str, Any]:
    """A JSON response: `schema` is a component name or an inline schema."""
    s = ref(schema) if isinstance(schema, str) else schema
    return {"description": description, "content": {"application/json": {"schema": s}}}


def error(description: str) -> dict[str, Any]:
    return ok("Error", description)


def body(schema: str, description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"required": True, "content": {"application/json": {"schema": ref(schema)}}}
    if description:
        out["description"] = description
    return out


def query(name: str, schema: dict[str, Any], description: str = "", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def header(name: str, schema: dict[str, Any], description: str = "", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": schema, "description": description}


_GROUP = re.compile(r"\((\?P<(?P<name>\w+)>)?[^()]*\)")


def openapi_path(pattern: str, handler: type[tornado.web.RequestHandler]) -> tuple[str, list[str]]:
    """`/api/mp/polls/(?P<poll_id>[^/]+)` -> (`/api/mp/polls/{poll_id}`, ["poll_id"])."""
    names: list[str] = []
    positional = _positional_names(handler)

    def repl(m: re.Match[str]) -> str:
        name = m.group("name") or (positional[len(names)] if len(names) < len(positional) else f"p{len(names)}")
        names.append(name)
        return "{" + name + "}"

    path = _GROUP.sub(repl, pattern.lstrip("^").rstrip("$")).replace("\\", "")
    if path.endswith("/?"):
        path = path[:-2]
    return path, names


def _positional_names(handler: type[tornado.web.RequestHandler]) -> list[str]:
    for method in HTTP_METHODS:
        fn = getattr(handler, method, None)
        if fn is not None and fn is not getattr(tornado.web.RequestHandler, method):
            return [p for p in inspect.signature(fn).parameters if p != "self"]
    return []


def implemented_methods(handler: type[Any]) -> list[str]:
    if not issubclass(handler, tornado.web.RequestHandler):  # a lean route (handlers/lean.py) lists its methods
        return [m.lower() for m in getattr(handler, "methods", ())]
    return [m for m in HTTP_METHODS if getattr(handler, m) is not getattr(tornado.web.RequestHandler, m)]


def requires_session(handler: type[Any]) -> bool:
    """MpHandlers need a session; a lean route says so itself (`requires_session = True`)."""
    return bool(getattr(handler, "requires_session", False)) or issubclass(handler, MpHandler)


def _operation(op: dict[str, Any], params: list[str], secured: bool) -> dict[str, Any]:
    op = copy.deepcopy(op)
    if params:
        declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
        path_params = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
            for n in params
            if n not in declared
        ]
        op["parameters"] = path_params + op.get("parameters", [])
    op["security"] = [{"bearerAuth": []}] if secured else []
    responses = op.setdefault("responses", {})
    if "requestBody" in op or op.get("parameters"):
        responses.setdefault("400", error(GENERIC_ERRORS["400"]))
    if secured:
        responses.setdefault("401", error(GENERIC_ERRORS["401"]))
    if params:
        responses.setdefault("404", error(GENERIC_ERRORS["404"]))
    responses.setdefault("503", error(GENERIC_ERRORS["503"]))  # any call, when Redis or MongoDB is down
    return op


def build_document(routes: list[tuple[str, type[Any]]], version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, dict[str, Any]] = {"Error": ERROR_SCHEMA}
    for pattern, handler in routes:
        if not pattern.startswith(API_PREFIX):
            continue
        spec: dict[str, Any] = getattr(handler, "openapi", {}) or {}
        if not spec:
            continue
        path, params = openapi_path(pattern, handler)
        secured = requires_session(handler)
        item = paths.setdefault(path, {})
        for method, op in spec.items():
            item[method] = _operation(op, params, secured)
        for name, schema in getattr(sys.modules[handler.__module__], "schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"schema {name!r} is defined differently in {handler.__module__}")
            schemas[name] = schema
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "齐鲁工惠小程序接口",
            "version": version,
            "description": "山东工会 / 齐鲁工惠 mini-program API. Errors are `{code, message}`; message is Chinese.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "POST /api/mp/login"}
            },
        },
    }


def document() -> dict[str, Any]:
    import app

    return build_document(app.route_table(), app.VERSION)


class OpenApiHandler(PublicMpHandler):
    openapi: ClassVar[dict[str, Any]] = {}  # the document does not describe itself

    def get(self) -> None:
        doc = self.deps.extras.get("mp.openapi")
        if doc is None:
            doc = self.deps.extras["mp.openapi"] = document()
        self.set_header("Cache-Control", "public, max-age=300")
        self.write_json(doc)


routes = [(r"/api/openapi\.json", OpenApiHandler)]
