"""The OpenAPI document is generated from the code: every API route has a spec, every spec a route."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from typing import Any

import app
import miniprogram_api
from handlers.lean import LeanRoute
from miniprogram_api.base import MpHandler, PublicMpHandler
from miniprogram_api.openapi import document, implemented_methods, openapi_path
from tests.conftest import Fetch


def _api_routes() -> list[tuple[str, Any]]:
    return [(p, h) for p, h in app.route_table() if p.startswith("/api/mp/")]


def _all_subclasses(cls: type) -> set[type]:
    out: set[type] = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out


def test_every_mp_route_has_a_spec_for_exactly_its_methods() -> None:
    routes = _api_routes()
    assert routes
    for pattern, handler in routes:
        assert issubclass(handler, PublicMpHandler | LeanRoute), (
            f"{pattern}: not an MpHandler/PublicMpHandler/LeanRoute"
        )
        assert handler.openapi, f"{pattern}: {handler.__name__} has no `openapi` spec"
        assert set(handler.openapi) == set(implemented_methods(handler)), f"{pattern}: spec and methods differ"


def test_every_spec_has_a_route() -> None:
    for info in pkgutil.iter_modules(miniprogram_api.__path__):
        importlib.import_module(f"miniprogram_api.{info.name}")
    routed = {h for _, h in app.route_table()}
    for cls in _all_subclasses(PublicMpHandler):
        if cls.__dict__.get("openapi"):
            assert cls in routed, f"{cls.__module__}.{cls.__name__} has a spec but no route"


def test_refs_resolve_and_ids_are_unique() -> None:
    doc = document()
    text = json.dumps(doc)
    for name in re.findall(r'"#/components/schemas/([^"]+)"', text):
        assert name in doc["components"]["schemas"], f"dangling $ref {name}"
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)), "duplicate operationId"
    for path, item in doc["paths"].items():
        in_path = set(re.findall(r"{(\w+)}", path))
        for op in item.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == in_path, path


def test_security_follows_the_base_class() -> None:
    doc = document()
    for pattern, handler in _api_routes():
        path, _ = openapi_path(pattern, handler)
        for op in doc["paths"][path].values():
            if issubclass(handler, MpHandler) or getattr(handler, "requires_session", False):
                assert op["security"] == [{"bearerAuth": []}] and "401" in op["responses"]
            else:
                assert op["security"] == []


def test_pattern_conversion_names_groups() -> None:
    class H(MpHandler):
        async def get(self, poll_id: str) -> None: ...

    assert openapi_path(r"/api/mp/polls/([^/]+)/x", H) == ("/api/mp/polls/{poll_id}/x", ["poll_id"])
    assert openapi_path(r"/api/mp/orgs/(?P<code>[0-9]+)", H) == ("/api/mp/orgs/{code}", ["code"])


async def test_served_document_is_the_generated_one(fetch: Fetch) -> None:
    resp = await fetch("/api/openapi.json")
    assert resp.code == 200
    assert json.loads(resp.body) == json.loads(json.dumps(document()))
