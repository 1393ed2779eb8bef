"""Client addresses: forwarded headers count only from trusted proxies, right-most untrusted hop first.

A spoofed X-Forwarded-For / X-Real-IP must neither dodge the console's per-IP login lock nor lock a
victim's address; behind a trusted proxy the address the proxy saw is the one that counts.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from tornado.httputil import HTTPHeaders

from core.deps import Deps
from handlers.client_address import client_address, networks
from services.editors import accounts as editors
from services.editors import auth as console_auth
from services.editors import sessions_live as console_sessions
from services.polls import ballots_store as ballots
from services.polls import flusher as ballot_flusher
from tests.conftest import Fetch
from tests.console.conftest import PASSWORD, ConsoleClient
from tests.mp.conftest import MpClient
from tests.mp.polls_helpers import make_poll

PROXY = networks(["10.0.0.0/8", "127.0.0.1/32"])


def headers(**values: str) -> HTTPHeaders:
    h = HTTPHeaders()
    for name, value in values.items():
        h.add(name.replace("_", "-"), value)
    return h


def test_forwarded_headers_from_an_untrusted_peer_are_ignored() -> None:
    spoofed = headers(X_Forwarded_For="1.2.3.4", X_Real_IP="5.6.7.8")
    assert client_address("203.0.113.7", spoofed, PROXY) == "203.0.113.7"
    assert client_address("127.0.0.1", spoofed, ()) == "127.0.0.1"  # no trusted proxies configured


def test_the_right_most_untrusted_hop_is_the_client() -> None:
    chain = headers(X_Forwarded_For="9.9.9.9, 198.51.100.4, 10.1.2.3")  # client wrote 9.9.9.9; SLB saw .4
    assert client_address("10.0.0.5", chain, PROXY) == "198.51.100.4"
    repeated = headers(X_Forwarded_For="9.9.9.9")
    repeated.add("X-Forwarded-For", "198.51.100.4")
    assert client_address("10.0.0.5", repeated, PROXY) == "198.51.100.4"
    assert client_address("10.0.0.5", headers(X_Forwarded_For="10.9.9.9, 10.1.1.1"), PROXY) == "10.9.9.9"


def test_x_real_ip_never_overrides_the_chain() -> None:
    both = headers(X_Forwarded_For="198.51.100.4", X_Real_IP="192.0.2.1")
    assert client_address("10.0.0.5", both, PROXY) == "198.51.100.4"
    assert client_address("10.0.0.5", headers(X_Real_IP="192.0.2.1"), PROXY) == "192.0.2.1"
    assert client_address("10.0.0.5", headers(X_Forwarded_For="not-an-ip"), PROXY) == "10.0.0.5"


PROXIED = {"server.xheaders": True, "server.trusted_proxies": ["127.0.0.1/32"]}


@pytest.fixture(params=[{}, PROXIED], ids=["direct", "behind-trusted-proxy"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(request.param)


async def attempt(base: str, username: str, password: str, **hdrs: str) -> int:
    c = ConsoleClient(base)
    try:
        page = await c.get("/admin/login")
        token = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        assert token
        form = {"_xsrf": token.group(1), "username": username, "password": password}
        sent = {name.replace("_", "-"): value for name, value in hdrs.items()}
        return (await c.request("POST", "/admin/login", data=form, headers=sent)).status
    finally:
        await c.close()


async def test_rotating_spoofed_addresses_do_not_dodge_the_ip_lock(
    app_server: str, deps: Deps, settings_overrides: dict[str, Any]
) -> None:
    deps.put(console_auth.LOGIN_LIMITS, console_sessions.Limits(per_user=100, per_ip=4))
    data = {"username": "victim", "name": "victim", "role": "admin", "org": "370000", "password": PASSWORD}
    await editors.create(deps.db, None, data)
    proxied = bool(settings_overrides)
    real = "203.0.113.50"  # the attacker's address as our proxy saw it (behind the proxy)
    for i in range(4):  # a fresh spoofed address each time, in both headers
        spoof = f"198.51.100.{i}"
        xff = f"{spoof}, {real}" if proxied else spoof
        status = await attempt(app_server, "victim", "wrong-password-1", X_Forwarded_For=xff, X_Real_IP=spoof)
        assert status == 401
    xff = f"198.51.100.99, {real}" if proxied else "198.51.100.99"
    assert await attempt(app_server, "victim", PASSWORD, X_Forwarded_For=xff, X_Real_IP="192.0.2.1") == 429
    if proxied:
        # the victim whose address the attacker wrote into the header is not locked out
        assert await attempt(app_server, "victim", PASSWORD, X_Forwarded_For="198.51.100.2") == 303
    else:
        # without trusted proxies nobody can choose an address: the peer (loopback) is locked
        assert await attempt(app_server, "victim", PASSWORD, X_Forwarded_For="198.51.100.2") == 429


async def test_a_ballot_records_the_address_our_proxy_saw_never_a_spoofed_one(
    fetch: Fetch, fake_wechat: Any, deps: Deps, settings_overrides: dict[str, Any]
) -> None:
    """Poll anti-brushing counts ballots per address: the address stored with a ballot is the one it used."""
    poll = await make_poll(deps)
    mp = MpClient(fetch, fake_wechat)
    token = await mp.login("o_ip1")
    spoofed = {"X-Forwarded-For": "198.51.100.77, 203.0.113.60", "X-Real-IP": "192.0.2.5"}
    path = f"/api/mp/polls/{poll['_id']}/ballots"
    status, _ = await mp.call("POST", path, {"options": ["o1"]}, token, headers=spoofed)
    assert status == 201
    await ballot_flusher.drain(deps)
    [ballot] = await ballots.mine(deps.db, poll["_id"], "o_ip1")
    # behind the trusted proxy (loopback here) the proxy appended 203.0.113.60; directly, both headers are lies
    assert ballot["ip"] == ("203.0.113.60" if settings_overrides else "127.0.0.1")
