"""Auth coverage: walk the application's routing rules, so a new console route cannot forget the login check."""

from __future__ import annotations

import re

import pytest

from app import make_app
from core.deps import Deps
from tests.console.conftest import Client, MakeEditor

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
    prefix + HEX[:n] for prefix in ("", "p", "sv", "ac", "qr", "u", "v") for n in (10, 12, 16, 24)
)


def sample_path(pattern: str, real: tuple[str, ...] = ()) -> str:
    """A concrete URL matching a route regex: every group becomes a plausible id (or its first alternative)."""
    for candidate in (*real, *CANDIDATES):

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


GARBAGE: list[object] = [
    [],
    "text",
    {"x": 1},
    {
        "title": 5,
        "options": "x",
        "kind": [],
        "org": {"a": 1},
        "closes_at": 12,
        "opens_at": [],
        "questions": {},
        "sessions": "s",
        "channel": ["template"],
        "content": [],
        "audience": "all",
        "schedule": 3,
        "button": [{"type": []}],
        "reply": "x",
        "patterns": {"a": 1},
        "priority": "high",
        "username": 7,
        "password": None,
        "role": [],
        "target": {},
        "disabled": "yes",
        "openid": 123,
        "version": {},
    },
]


async def real_ids(deps: Deps) -> tuple[str, ...]:
    """Existing items of each kind, so the bodies reach the update code, not just the 404."""
    from datetime import timedelta

    from core.clock import now
    from services.activities import definitions as activity_admin
    from services.pushes import compose as pushes
    from services.surveys import definitions as survey_admin
    from tests.mp.polls_helpers import make_poll

    poll = await make_poll(deps, org="370100")
    survey = await survey_admin.create_survey(
        deps,
        {
            "org": "370100",
            "title": "问卷",
            "opens_at": now(),
            "closes_at": now() + timedelta(days=2),
            "questions": [{"id": "q1", "type": "text", "title": "建议"}],
        },
        editor_org=None,
    )
    activity = await activity_admin.create_activity(
        deps,
        {
            "org": "370100",
            "title": "活动",
            "signup_deadline": now() + timedelta(days=1),
            "sessions": [
                {
                    "id": "s1",
                    "starts_at": now() + timedelta(days=2),
                    "ends_at": now() + timedelta(days=2, hours=1),
                    "capacity": 5,
                }
            ],
        },
        editor_org=None,
    )
    push = await pushes.create(
        deps,
        {
            "title": "推送",
            "channel": "custom",
            "content": {"msgtype": "text", "text": "你好"},
            "audience": {"kind": "all"},
            "schedule": {"kind": "at", "at": (now() + timedelta(days=1)).isoformat()},
            "org": "370100",
        },
        editor_org="370000",
        editor="t",
    )
    return poll["_id"], survey["_id"], activity["_id"], push["id"], "370000:welcome", "garbage_target"


async def test_no_json_input_makes_a_500(deps: Deps, client: Client, make_editor: MakeEditor) -> None:
    """Malformed bodies on every JSON route, as an admin of the province: always a 4xx with a message."""
    c = await client("garbage_admin", fresh=True)
    await make_editor("garbage_target", org="370100", role="editor")
    real = await real_ids(deps)
    for pattern, handler in console_rules(deps):
        path = sample_path(pattern, real)
        if not path.startswith("/api/admin"):
            continue
        for method in ("POST", "PUT", "PATCH"):
            if not implemented(handler, method):
                continue
            for body in GARBAGE:
                resp = await c.api(method, path, body)
                assert resp.status < 500, (method, path, body, resp.status, resp.text[:300])
                if resp.status >= 400:
                    assert resp.json["code"] and resp.json["message"], (method, path, resp.text[:200])
            raw = await c.request(method, path, data=b"{not json", headers={"X-XSRFToken": c.csrf})
            assert raw.status < 500, (method, path, raw.status)


FORMS: list[dict[str, str]] = [
    {},
    {"action": "bogus"},
    {
        "action": "edit",
        "title": "",
        "closes_at": "明天",
        "opens_at": "x",
        "max_choices": "很多",
        "questions": "{",
        "form": "[1]",
        "s1_capacity": "x",
        "s1_starts_at": "2025-13-45T99:99",
        "limit_count": "-1",
    },
    {
        "action": "publish",
        "kind": "org",
        "target": "../../etc",
        "b1_name": "x" * 100,
        "b1_type": "view",
        "b1_value": "js:",
    },
    {
        "action": "preview",
        "openid": "<script>",
        "reply_type": "nope",
        "patterns": "",
        "match": "fuzzy",
        "priority": "x",
    },
    {
        "channel": "template",
        "template_id": "",
        "template_data": "a",
        "audience": "tags",
        "tags": "x,y",
        "schedule": "cron",
        "cron": "* * *",
        "action": "send",
    },
]


async def test_no_form_input_makes_a_500(deps: Deps, client: Client, make_editor: MakeEditor) -> None:
    """Odd form posts on every console page, as an admin of the province: a page with a message, never a 500."""
    c = await client("form_garbage", fresh=True)
    await make_editor("garbage_target", org="370100", role="editor")
    real = await real_ids(deps)
    for pattern, handler in console_rules(deps):
        path = sample_path(pattern, real)
        if path.startswith("/api/admin") or path in ("/admin/logout",) or not implemented(handler, "POST"):
            continue
        for form in FORMS:
            resp = await c.post(path, form)
            assert resp.status < 500, (path, form, resp.status, resp.text[-500:])


VENDOR_ALLOWED = {"/admin/logout", "/admin/password", "/admin/redeem", "/api/admin/redeem", "/api/admin/me"}


async def test_vendor_accounts_reach_only_redemption(deps: Deps, client: Client) -> None:
    """A shop's account (role vendor) is sent to /admin/redeem from every page and refused by every other API."""
    from services.benefits import store
    from services.editors import accounts as editors

    await store.insert_vendor(deps.db, {"_id": "v0123456789", "name": "店", "org": "370100",
                                        "org_path": ["370000", "370100"]})  # fmt: skip
    await editors.create(deps.db, None, {"username": "shop_walk", "role": "vendor", "vendor_id": "v0123456789",
                                         "org": "370100", "password": "Test-password-2025"})  # fmt: skip
    c = await client(fresh=True)
    assert (await c.login("shop_walk")).status == 303
    checked = 0
    for pattern, handler in console_rules(deps):
        path = sample_path(pattern)
        if path in VENDOR_ALLOWED or path in PUBLIC or "/statement" in path:
            continue
        for method in METHODS:
            if not implemented(handler, method):
                continue
            checked += 1
            if path.startswith("/api/admin"):
                resp = await c.api(method, path, {} if method != "GET" else None)
                assert resp.status == 403 and resp.json["code"] == "vendor_only", (method, path, resp.status)
            elif method == "GET":
                resp = await c.get(path)
                assert resp.status == 302 and resp.location == "/admin/redeem", (method, path, resp.status)
            else:
                resp = await c.post(path, {}) if method == "POST" else await c.request(method, path)
                assert resp.status == 403, (method, path, resp.status)
    assert checked > 20
