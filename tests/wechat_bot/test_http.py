"""/wechat as an HTTP endpoint (a lean route, handlers/lean.py): methods, request ids, metrics, hang-ups."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from core.deps import Deps
from tests.conftest import Fetch
from tests.wechat_bot.conftest import SimFactory
from tools.fake_wechat.crypto import sha1_signature
from wechat_bot import hooks


def signed_get(token: str, echostr: str, **extra: str) -> str:
    import time

    timestamp, nonce = str(int(time.time())), "n0nce42"
    query = {"signature": sha1_signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    return "/wechat?" + urlencode({**query, "echostr": echostr, **extra})


async def test_other_methods_are_405_and_say_which_are_allowed(fetch: Fetch) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        resp = await fetch("/wechat", method=method, body=b"<xml/>", allow_nonstandard_methods=True)
        assert resp.code == 405, method
        assert resp.headers["Allow"] == "GET, POST"
        assert json.loads(resp.body) == {"code": "method_not_allowed", "message": "不支持该请求方法"}
    head = await fetch("/wechat", method="HEAD")
    assert head.code == 405 and head.headers["Allow"] == "GET, POST"


async def test_echostr_with_an_encoded_query(fetch: Fetch, deps: Deps) -> None:
    token = deps.settings.wechat.token
    resp = await fetch(signed_get(token, "回声 a+b&c=d"))
    assert resp.code == 200 and resp.body.decode() == "回声 a+b&c=d"  # percent-encoding undone, verbatim
    # Repeated arguments: the last one counts (as Tornado's get_argument does).
    resp = await fetch(signed_get(token, "first") + "&echostr=second")
    assert resp.body == b"second"


async def test_request_ids_are_kept_or_made_and_every_answer_carries_one(fetch: Fetch, deps: Deps) -> None:
    token = deps.settings.wechat.token
    ok = await fetch(signed_get(token, "42"), headers={"X-Request-Id": "edge-7f3a.1"})
    assert ok.headers["X-Request-Id"] == "edge-7f3a.1"  # a proxy's id is kept, so logs line up
    odd = await fetch(signed_get(token, "42"), headers={"X-Request-Id": "<script>"})
    made = odd.headers["X-Request-Id"]
    assert made != "<script>" and re.fullmatch(r"[0-9a-f]{16}", made)
    refused = await fetch("/wechat?signature=x&timestamp=1&nonce=2", method="POST", body=b"<xml/>")
    assert refused.code == 403 and refused.headers["X-Request-Id"] != made
    assert refused.headers["Content-Type"].startswith("application/json") and refused.headers["Cache-Control"]


async def test_requests_are_counted_by_status(fetch: Fetch, deps: Deps) -> None:
    token = deps.settings.wechat.token

    async def count(status: str, method: str) -> float:
        text = (await fetch("/metrics")).body.decode()
        pattern = rf'sdgh_http_requests_total\{{method="{method}",route="/wechat",status="{status}"\}} ([0-9.]+)'
        found = re.search(pattern, text)
        return float(found.group(1)) if found else 0.0

    before_ok, before_403 = await count("200", "GET"), await count("403", "POST")
    for _ in range(3):
        await fetch(signed_get(token, "x"))
    await fetch("/wechat?signature=x&timestamp=1&nonce=2", method="POST", body=b"<xml/>")
    assert await count("200", "GET") == before_ok + 3
    assert await count("403", "POST") == before_403 + 1


async def test_worker_side_hang_up_loses_nothing(make_sim: SimFactory, deps: Deps, caplog: Any) -> None:
    """WeChat gives up on a connection (its 5 s) and retries: the work done for the first still counts."""
    calls: list[str] = []

    async def slow_checkin(openid: str, activity_id: str) -> str:
        calls.append(activity_id)
        await asyncio.sleep(0.5)
        return "签到成功：职工运动会"

    hooks.register_checkin(deps, slow_checkin)
    sim = make_sim("safe")
    follow = sim.event("o_hangup_worker", "subscribe", EventKey="qrscene_checkin:sports-2026")
    url, body, headers = sim.build_request(follow)
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Content-Length": str(len(body))}.items())
    writer.write(f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body)
    await writer.drain()
    await asyncio.sleep(0.1)  # the message is being processed...
    writer.close()  # ...when the caller hangs up
    await asyncio.sleep(0.7)
    caplog.set_level(logging.ERROR)

    retry = await sim.send(follow)  # WeChat's retry: the first delivery's answer, no second check-in
    assert retry.reply is not None and "签到成功：职工运动会" in retry.reply["Content"]
    assert calls == ["sports-2026"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_unexpected_failure_is_a_500_with_a_clear_message(
    make_sim: SimFactory, fetch: Fetch, deps: Deps, caplog: Any, monkeypatch: Any
) -> None:
    from wechat_bot.setup import get_bot

    bot = get_bot(deps)
    assert bot is not None

    async def broken(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(bot, "handle", broken)
    sim = make_sim("safe")
    url, body, headers = sim.build_request(sim.text("o_http_500", "投票"))
    parts = urlsplit(url)
    resp = await fetch(f"{parts.path}?{parts.query}", method="POST", body=body, headers=headers, request_timeout=5)
    assert resp.code == 500 and resp.headers["X-Request-Id"]  # an answer, never a hang
    assert json.loads(resp.body) == {"code": "internal_server_error", "message": "服务器内部错误，请稍后重试"}
    assert "POST /wechat failed" in caplog.text and "a bug" in caplog.text


async def test_behind_a_proxy_the_log_names_the_worker_not_the_proxy(
    app_server: str, make_sim: SimFactory, deps: Deps, caplog: Any
) -> None:
    import tornado.httpclient
    from tornado.testing import bind_unused_port

    from app import Server, make_app

    server_settings = dataclasses.replace(deps.settings.server, xheaders=True, trusted_proxies=("127.0.0.1/32",))
    deps.settings = dataclasses.replace(deps.settings, server=server_settings)  # behind a load balancer on loopback
    sock, port = bind_unused_port()
    server = Server.for_settings(make_app(deps), deps.settings.server)
    server.add_sockets([sock])
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    caplog.set_level(logging.INFO, logger="tornado.access")
    try:
        sim = make_sim("safe")
        url, body, headers = sim.build_request(sim.text("o_http_proxy", "投票"))
        parts = urlsplit(url)
        resp = await client.fetch(
            f"http://127.0.0.1:{port}{parts.path}?{parts.query}", method="POST", body=body,
            headers={**headers, "X-Real-IP": "203.0.113.9"}, raise_error=False,
        )  # fmt: skip
        assert resp.code == 200 and b"<Encrypt>" in resp.body  # answered after a Redis round trip
    finally:
        client.close()
        server.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "tornado.access"]
    assert any(line.startswith("200 POST /wechat (203.0.113.9)") for line in lines), lines


async def test_an_oversized_chunked_body_is_413_too(make_sim: SimFactory) -> None:
    sim = make_sim("plain")
    url, _, _ = sim.build_request(sim.text("o_http_chunked", "x"))
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    piece = b"x" * 16_384
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(6)) + b"0\r\n\r\n"  # 96 KB, no length
    head = f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    writer.write(head.encode() + chunks)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["code"] == "too_large"
