"""/metrics only for loopback scrapers or a token holder; every text answer says nosniff."""

from __future__ import annotations

from typing import Any

import pytest

from core.deps import Deps
from tests.conftest import Fetch
from tests.wechat_bot.test_http import signed_get

TOKEN = "scrape-me-7f3a9c"


async def test_metrics_default_to_loopback_only(fetch: Fetch) -> None:
    assert (await fetch("/metrics")).code == 200  # the test client is on loopback


PROXIED: dict[str, Any] = {"server.xheaders": True, "server.trusted_proxies": ["127.0.0.1/32"]}


@pytest.mark.parametrize("settings_overrides", [PROXIED])
async def test_metrics_refuse_a_remote_client_behind_the_proxy(fetch: Fetch) -> None:
    resp = await fetch("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert resp.code == 403 and b"sdgh_http" not in resp.body
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("settings_overrides", [{"server.metrics_token": TOKEN}])
async def test_metrics_with_a_token_need_it_even_from_loopback(fetch: Fetch) -> None:
    assert (await fetch("/metrics")).code == 403
    assert (await fetch("/metrics", headers={"Authorization": "Bearer wrong"})).code == 403
    ok = await fetch("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.code == 200 and b"sdgh_http_requests_total" in ok.body


async def test_echostr_and_errors_say_nosniff(fetch: Fetch, deps: Deps) -> None:
    echo = await fetch(signed_get(deps.settings.wechat.token, "<html><script>x</script>"))
    assert echo.code == 200 and echo.headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/no/such/page", "/healthz", "/api/mp/polls"):
        assert (await fetch(path)).headers["X-Content-Type-Options"] == "nosniff", path
