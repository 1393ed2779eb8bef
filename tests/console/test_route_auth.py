"""Auth coverage: walk the application's routing rules, so a new console route cannot forget the login check."""

from __future__ import annotations

import re

import pytest

from app import make_app
from core.deps import Deps
from tests.console.conftest import Client

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PUBLIC = {"/admin/login"}


def console_rules(deps: Deps) -> list[tuple[str, type]]:
    app = make_app(deps)
    out = []
    for rule in app.wildcard_router.rules:
        pattern = rule.matcher.regex.pattern.rstrip("$")
        if pattern.startswith(("/admin", "/api/admin")):
            out.append((pattern, rule.target))
    return out


HEX = "0123456789abcdef0123456789abcdef"
CANDIDATES = ("abc123", "370100:kw:abc123", "370100", "x.csv") + tuple(
    prefix + HEX[:n] for prefix in ("", "p", "sv", "ac", "qr", "u") for n in (10, 12, 16, 24)
)


def sample_path(pattern: str) -> str:
    """A concrete URL matching a route regex: every group becomes a plausible id (or its first alternative)."""
    for candidate in CANDIDATES:

        def fill(group: re.Match[str], candidate: str = candidate) -> str:
            inner = group.group(1)
            return inner.split("|")[0] if re.fullmatch(r"[\w|]+", inner) else candidate

        path = re.sub(r"\((?:\?P<\w+>)?([^)]*)\)", fill, pattern).replace("/?", "/").replace("\\", "")
        if re.fullmatch(pattern, path):
            return path
    raise AssertionError(f"no sample path for {pattern}")


def implemented(handler: type, method: str) -> bool:
    import tornado.web

    return getattr(handler, method.lower()) is not getattr(tornado.web.RequestHandler, method.lower())


async def test_the_console_has_routes(deps: Deps) -> None:
    patterns = [p for p, _ in console_rules(deps)]
    assert any(p.startswith("/admin") for p in patterns) and any(p.startswith("/api/admin") for p in patterns)


async def test_every_console_route_requires_login(deps: Deps, client: Client) -> None:
    anon = await client(fresh=True)
    checked = 0
    for pattern, handler in console_rules(deps):
        path = sample_path(pattern)
        for method in METHODS:
            if not implemented(handler, method):
                continue
            streams = getattr(handler, "streams_body", False)
            body = None if method in ("GET", "DELETE") or streams else b""
            resp = await anon.request(method, path, data=body)
            checked += 1
            if path in PUBLIC:
                assert resp.status in (200, 403), (method, path, resp.status)  # 403: no CSRF cookie on POST
                continue
            if path.startswith("/api/admin"):
                assert resp.status == 401, (method, path, resp.status, resp.text[:200])
                assert resp.json["code"] == "login_required" and resp.json["message"] == "请先登录"
            else:
                assert resp.status in (302, 303), (method, path, resp.status)
                assert resp.location.startswith("/admin/login"), (method, path, resp.location)
    assert checked > 20


@pytest.mark.parametrize("role", ["viewer"])
async def test_viewers_cannot_change_anything(deps: Deps, client: Client, role: str) -> None:
    """Every unsafe method of every console route refuses a read-only account (before any work is done)."""
    c = await client("viewer1", role=role, fresh=True)
    allowed = {"/admin/logout", "/admin/org", "/admin/password"}
    for pattern, handler in console_rules(deps):
        path = sample_path(pattern)
        if path in allowed or path in PUBLIC:
            continue
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            if not implemented(handler, method):
                continue
            if path.startswith("/api/admin"):
                resp = await c.api(method, path, {})
                assert resp.status == 403 and resp.json["code"] in ("read_only", "admin_only"), (method, path)
            else:
                resp = await c.post(path, {}) if method == "POST" else await c.request(method, path)
                assert resp.status == 403, (method, path, resp.status)
