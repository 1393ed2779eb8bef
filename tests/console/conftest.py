"""Console test helpers: accounts created through the real service, a browser-like HTTP client with cookies."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from core.deps import Deps
from services.editors import accounts as editors

PASSWORD = "Test-password-2025"
CITY_A, CITY_B, PROVINCE = "370100", "370200", "370000"  # 济南, 青岛, the province


class Resp:
    def __init__(self, status: int, text: str, headers: Any) -> None:
        self.status, self.text, self.headers = status, text, headers

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None

    @property
    def location(self) -> str:
        return str(self.headers.get("Location", ""))


class ConsoleClient:
    """Talks to the console as a browser does: a cookie jar, forms with the CSRF token, JSON with the header."""

    def __init__(self, base: str, *, fresh_connections: bool = False) -> None:
        self.base = base
        # fresh_connections: the server closes a connection when an upload is refused before its body
        # was read; a pooled connection would then fail the next request.
        connector = aiohttp.TCPConnector(force_close=fresh_connections)
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), connector=connector)
        self.csrf = ""

    async def close(self) -> None:
        await self.http.close()

    async def request(self, method: str, path: str, **kw: Any) -> Resp:
        kw.setdefault("allow_redirects", False)
        async with self.http.request(method, self.base + path, **kw) as r:
            return Resp(r.status, await r.text(), r.headers)

    async def get(self, path: str) -> Resp:
        return await self.request("GET", path)

    async def login(self, username: str, password: str = PASSWORD) -> Resp:
        page = await self.get("/admin/login")
        token = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        assert token, page.text[:500]
        resp = await self.request(
            "POST", "/admin/login", data={"_xsrf": token.group(1), "username": username, "password": password}
        )
        if resp.status == 303:
            me = await self.api("GET", "/api/admin/me")
            if me.status == 200:  # a Secure cookie is not sent back over http
                self.csrf = me.json["csrf"]
        return resp

    async def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = None, **kw: Any) -> Resp:
        form = aiohttp.FormData()
        for key, value in (data or {}).items():
            for v in value if isinstance(value, list) else [value]:
                form.add_field(key, str(v))
        form.add_field("_xsrf", self.csrf if csrf is None else csrf)
        return await self.request("POST", path, data=form, **kw)

    async def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        csrf: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Resp:
        headers = {"X-XSRFToken": self.csrf if csrf is None else csrf, **(headers or {})}
        kw: dict[str, Any] = {"headers": headers}
        if body is not None:
            kw["data"] = json.dumps(body, ensure_ascii=False)
            headers["Content-Type"] = "application/json"
        return await self.request(method, path, **kw)


MakeEditor = Callable[..., Awaitable[str]]
Client = Callable[..., Awaitable[ConsoleClient]]


@pytest.fixture
def make_editor(deps: Deps) -> MakeEditor:
    async def make(username: str, org: str = PROVINCE, role: str = "admin", password: str = PASSWORD) -> str:
        data = {"username": username, "name": username, "role": role, "org": org, "password": password}
        await editors.create(deps.db, None, data)
        return username

    return make


@pytest.fixture
async def client(app_server: str, make_editor: MakeEditor) -> AsyncIterator[Client]:
    """client("name", org=..., role=...) -> a logged-in ConsoleClient (the account is created first)."""
    made: list[ConsoleClient] = []

    async def open_client(
        username: str | None = None, org: str = PROVINCE, role: str = "admin", fresh: bool = False
    ) -> ConsoleClient:
        c = ConsoleClient(app_server, fresh_connections=fresh)
        made.append(c)
        if username:
            await make_editor(username, org, role)
            resp = await c.login(username)
            assert resp.status == 303, resp.text[:500]
        return c

    yield open_client
    for c in made:
        await c.close()


async def audit_count(deps: Deps) -> int:
    return await deps.db.audit_log.count_documents({"action": {"$not": re.compile(r"^session\.")}})
