"""Helpers for the mini-program API tests: real logins through the fake WeChat platform."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Fetch


class MpClient:
    """Calls the app as the mini-program would: JSON bodies, bearer token."""

    def __init__(self, fetch: Fetch, fake_wechat: Any) -> None:
        self.fetch = fetch
        self.fake = fake_wechat

    async def login(self, openid: str, unionid: str | None = None) -> str:
        code = self.fake.state.mint_js_code(openid, unionid)  # one-time, like wx.login()
        resp = await self.call("POST", "/api/mp/login", {"code": code})
        assert resp[0] == 200, resp
        return str(resp[1]["token"])

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"method": method, "headers": h}
        if body is not None:
            kwargs["body"] = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=False)
        elif method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = b""
            kwargs["allow_nonstandard_methods"] = True
        resp = await self.fetch(path, **kwargs)
        data = json.loads(resp.body) if resp.body else None
        return resp.code, data


@pytest.fixture
def mp(fetch: Fetch, fake_wechat: Any) -> MpClient:
    return MpClient(fetch, fake_wechat)
