"""Fixtures for the fake WeChat platform's own tests: a real loopback server and a small client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from tools.fake_wechat import FakeWeChat, FakeWeChatServer, start_fake_wechat

OA, OA_SECRET = "wxdemo0000000oa", "demo-oa-secret"
MP, MP_SECRET = "wxdemo0000000mp", "demo-mp-secret"


class FakeClock:
    """Injectable clock: tests fast-forward time instead of sleeping."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Api:
    """Talks to the fake over HTTP the way a WeChat client does."""

    def __init__(self, server: FakeWeChatServer) -> None:
        self.url = server.url
        self.http = AsyncHTTPClient()
        self.tokens: dict[str, str] = {}

    async def raw(self, method: str, path: str, body: bytes | None = None, /, **query: Any) -> HTTPResponse:
        qs = f"?{urlencode(query)}" if query else ""
        if method == "POST" and body is None:
            body = b""
        return await self.http.fetch(f"{self.url}/{path}{qs}", method=method, body=body, raise_error=False)

    async def get(self, path: str, /, **query: Any) -> dict[str, Any]:
        resp = await self.raw("GET", path, **query)
        assert resp.code == 200, resp.code
        return json.loads(resp.body)  # type: ignore[no-any-return]

    async def post(self, path: str, body: Any, /, **query: Any) -> dict[str, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        resp = await self.raw("POST", path, data, **query)
        assert resp.code == 200, resp.code
        return json.loads(resp.body)  # type: ignore[no-any-return]

    async def fetch_token(self, appid: str = OA, secret: str = OA_SECRET) -> dict[str, Any]:
        return await self.get("cgi-bin/token", grant_type="client_credential", appid=appid, secret=secret)

    async def token(self, appid: str = OA) -> str:
        if appid not in self.tokens:
            secret = OA_SECRET if appid == OA else MP_SECRET
            self.tokens[appid] = (await self.fetch_token(appid, secret))["access_token"]
        return self.tokens[appid]

    async def call(self, path: str, body: Any = None, /, *, appid: str = OA, **query: Any) -> dict[str, Any]:
        """POST (body given) or GET an access_token API; refreshes a dead token once, like a client."""
        for _ in range(2):
            query["access_token"] = await self.token(appid)
            answer = await (self.get(path, **query) if body is None else self.post(path, body, **query))
            if answer.get("errcode") not in (40001, 42001):
                break
            self.tokens.pop(appid, None)  # tests fast-forward the clock past the token's lifetime
        return answer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[FakeWeChatServer]:
    srv = await start_fake_wechat(port=0, state=FakeWeChat(clock=clock))
    yield srv
    await srv.stop()


@pytest.fixture
def state(server: FakeWeChatServer) -> FakeWeChat:
    return server.state


@pytest.fixture
def api(server: FakeWeChatServer) -> Api:
    return Api(server)
