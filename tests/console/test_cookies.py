"""Every console cookie (login form `_xsrf`, session, flash) is HttpOnly and SameSite=Lax, and Secure when
the console is served over https."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from tests.console.conftest import PASSWORD, MakeEditor

HTTPS = "https://console.sdgh.example.cn"


@pytest.fixture(params=[HTTPS, "http://127.0.0.1:8080"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"server.public_url": request.param}


def cookies(resp: aiohttp.ClientResponse) -> dict[str, str]:
    """name -> the whole Set-Cookie line."""
    return {line.split("=", 1)[0]: line for line in resp.headers.getall("Set-Cookie", [])}


def check(line: str, https: bool) -> None:
    assert "HttpOnly" in line and "SameSite=Lax" in line, line
    assert ("Secure" in line) is https, line


async def test_every_cookie_has_its_flags(
    app_server: str, make_editor: MakeEditor, settings_overrides: dict[str, Any]
) -> None:
    https = settings_overrides["server.public_url"].startswith("https")
    await make_editor("cookie_ed", org="370100", role="editor")
    # A browser would not send Secure cookies back over this test's plain http: carry them by hand.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        async with http.get(app_server + "/admin/login") as r:
            xsrf_line = cookies(r)["_xsrf"]
            form_token = re.search(r'name="_xsrf" value="([^"]+)"', await r.text())
        check(xsrf_line, https)
        assert form_token
        xsrf_cookie = xsrf_line.split(";")[0]
        form = {"_xsrf": form_token.group(1), "username": "cookie_ed", "password": PASSWORD}
        async with http.post(
            app_server + "/admin/login", data=form, headers={"Cookie": xsrf_cookie}, allow_redirects=False
        ) as r:
            assert r.status == 303
            session_line = cookies(r)["sdgh_console"]
        check(session_line, https)
        session = {"Cookie": session_line.split(";")[0]}
        async with http.get(app_server + "/api/admin/me", headers=session) as r:
            csrf = (await r.json())["csrf"]
        new = "Quiet-harbour-lamp-31"
        change = {"_xsrf": csrf, "old_password": PASSWORD, "password": new, "password2": new}
        async with http.post(app_server + "/admin/password", data=change, headers=session, allow_redirects=False) as r:
            assert r.status == 303
            check(cookies(r)["sdgh_flash"], https)
        async with http.post(
            app_server + "/admin/logout", data={"_xsrf": csrf}, headers=session, allow_redirects=False
        ) as r:
            assert r.status == 303
            check(cookies(r)["sdgh_console"], https)
