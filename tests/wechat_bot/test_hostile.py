"""Hostile and broken input at /wechat: a clear 4xx, fast, with flat memory, and nothing secret in the log."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import psutil
import pytest

from tests.conftest import AES_KEY, OA_SECRET, TOKEN, Fetch
from tests.wechat_bot.conftest import SimFactory
from tests.wechat_bot.test_wire import BILLION_LAUGHS, EXTERNAL_ENTITY
from tools.fake_wechat import WeChatSimulator
from tools.fake_wechat.crypto import MessageCrypto


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def post(fetch: Fetch, sim: WeChatSimulator, body: bytes, openid: str = "o_hostile", **query: str) -> Any:
    """A correctly signed plaintext-mode POST carrying `body` as is."""
    url, _, headers = sim.build_request(sim.text(openid, "x"))
    q = dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))
    q.update(query)
    return await fetch(f"/wechat?{urlencode(q)}", method="POST", body=body, headers=headers)


async def post_encrypted(fetch: Fetch, sim: WeChatSimulator, inner: bytes, app_id: str | None = None) -> Any:
    """A correctly signed safe-mode POST whose encrypted payload is `inner`."""
    crypto = MessageCrypto(TOKEN, AES_KEY, app_id or sim.app_id)
    encrypted = crypto.encrypt(inner)
    query = sim.signed_query("o_hostile", encrypted)
    body = f"<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return await fetch(f"/wechat?{urlencode(query)}", method="POST", body=body.encode())


def code_of(resp: Any) -> str:
    import json

    return str(json.loads(resp.body)["code"])


async def test_wrong_or_missing_signature_is_403(make_sim: SimFactory, fetch: Fetch) -> None:
    sim = make_sim("plain")
    url, body, headers = sim.build_request(sim.text("o_hostile", "投票"))
    tampered = path_of(url).replace("signature=", "signature=0", 1)
    resp = await fetch(tampered, method="POST", body=body, headers=headers)
    assert resp.code == 403 and code_of(resp) == "bad_signature"
    assert (await fetch("/wechat", method="POST", body=body)).code == 403
    assert (await fetch("/wechat?echostr=1&timestamp=1&nonce=2&signature=x")).code == 403
    assert (await fetch("/wechat", method="PUT", body=body)).code == 405


async def test_signed_with_another_token_is_403(app_server: str, fetch: Fetch, fake_wechat: Any) -> None:
    from tests.conftest import OA_APP_ID

    sim = WeChatSimulator(f"{app_server}/wechat", "not-our-token", OA_APP_ID, AES_KEY, "plain")
    url, body, headers = sim.build_request(sim.text("o_hostile", "投票"))
    assert (await fetch(path_of(url), method="POST", body=body, headers=headers)).code == 403
    sim.close()


async def test_stale_timestamp_is_refused(make_sim: SimFactory, fetch: Fetch) -> None:
    sim = make_sim("plain")
    for skew in (-3600, +3600):
        url, body, headers = sim.build_request(sim.text("o_hostile", "投票"), timestamp=str(int(time.time()) + skew))
        resp = await fetch(path_of(url), method="POST", body=body, headers=headers)
        assert resp.code == 403 and code_of(resp) == "stale_request"


async def test_replayed_nonce_is_refused(make_sim: SimFactory, fetch: Fetch, deps: Any) -> None:
    # In plaintext mode the signature does not cover the body: a captured query could carry any
    # forged message. WeChat never reuses a nonce (its retries get fresh ones), so we refuse reuse.
    sim = make_sim("plain")
    ts = str(int(time.time()))
    url, body, headers = sim.build_request(sim.event("o_victim", "subscribe"), timestamp=ts, nonce="424242")
    first = await fetch(path_of(url), method="POST", body=body, headers=headers)
    assert first.code == 200 and "欢迎关注" in first.body.decode()
    forged = sim.event("o_victim", "unsubscribe")
    url2, body2, _ = sim.build_request(forged, timestamp=ts, nonce="424242")
    resp = await fetch(path_of(url2), method="POST", body=body2, headers=headers)
    assert resp.code == 403 and code_of(resp) == "replayed"
    again = await fetch(path_of(url), method="POST", body=body, headers=headers)
    assert again.code == 403
    follower = await deps.db.followers.find_one({"_id": "o_victim"})
    assert follower["subscribed"] is True  # the forged unsubscribe did nothing


async def test_oversized_body_is_413_without_reading_it(make_sim: SimFactory, fetch: Fetch) -> None:
    sim = make_sim("plain")
    big = b"<xml><Content><![CDATA[" + b"x" * 200_000 + b"]]></Content></xml>"
    resp = await post(fetch, sim, big)
    assert resp.code == 413 and code_of(resp) == "too_large"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<xml><ToUserName>gh</ToUserName", "unclosed"),
        (b"not xml at all", "neither XML nor JSON"),
        (b"", "empty"),
        (b'{"ToUserName": "gh", ', "broken JSON"),
        (EXTERNAL_ENTITY.encode(), "external entity"),
        (b"<xml><FromUserName>o</FromUserName><MsgType>text</MsgType></xml>", "no ToUserName"),
        (b'{"ToUserName": "gh", "FromUserName": "o"}', "no MsgType"),
        ("<xml><Content>中文</Content></xml>".encode("gbk"), "not UTF-8"),
    ],
)
async def test_malformed_messages_are_400(make_sim: SimFactory, fetch: Fetch, body: bytes, why: str) -> None:
    resp = await post(fetch, make_sim("plain"), body)
    assert resp.code == 400, why
    assert code_of(resp) == "bad_message"


async def test_xml_bombs_are_refused_fast_with_flat_memory(make_sim: SimFactory, fetch: Fetch) -> None:
    sim = make_sim("plain")
    proc = psutil.Process()
    await post(fetch, sim, BILLION_LAUGHS.encode())  # warm up allocations before measuring
    rss_before = proc.memory_info().rss
    started = time.perf_counter()
    for _ in range(200):
        resp = await post(fetch, sim, BILLION_LAUGHS.encode())
        assert resp.code == 400
    elapsed = time.perf_counter() - started
    grown = proc.memory_info().rss - rss_before
    # Expanded, one bomb is 10^9 "lol"s (3 GB); refused, it costs what any bad request costs.
    assert grown < 16 * 1024 * 1024, f"RSS grew by {grown / 1e6:.1f} MB"
    assert elapsed / 200 < 0.05, f"{elapsed / 200 * 1000:.1f} ms per bomb"
    # Encrypted bombs are opened only after the signature matched, and refused the same way.
    resp = await post_encrypted(fetch, sim, BILLION_LAUGHS.encode())
    assert resp.code == 400


async def test_safe_mode_envelope_problems(make_sim: SimFactory, fetch: Fetch) -> None:
    sim = make_sim("safe")
    url, body, headers = sim.build_request(sim.text("o_hostile", "投票"))
    bad_sig = path_of(url).replace("msg_signature=", "msg_signature=0", 1)
    resp = await fetch(bad_sig, method="POST", body=body, headers=headers)
    assert resp.code == 403 and code_of(resp) == "bad_signature"
    inner = b"<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><MsgType>text</MsgType></xml>"
    resp = await post_encrypted(fetch, sim, inner, app_id="wx_another_account")
    assert resp.code == 400 and code_of(resp) == "bad_encrypt"
    garbage = "QUJDREVG" * 4
    query = sim.signed_query("o_hostile", garbage)
    resp = await fetch(f"/wechat?{urlencode(query)}", method="POST",
                       body=f"<xml><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>".encode())  # fmt: skip
    assert resp.code == 400 and code_of(resp) == "bad_encrypt"
    plain_query = sim.signed_query("o_hostile", None) | {"encrypt_type": "aes"}
    resp = await fetch(f"/wechat?{urlencode(plain_query)}", method="POST", body=b"<xml><a>1</a></xml>")
    assert resp.code == 400


async def test_control_characters_still_get_an_answer(make_sim: SimFactory) -> None:
    for mode in ("plain", "safe"):
        sim = make_sim(mode)
        result = await sim.send_text("o_ctrl", "投\x1d票\x01")
        assert result.reply is not None and "pages/votes/index" in result.reply["Content"]
        echo = await sim.send(sim.scancode("o_ctrl", "MENU_SCAN", "A\x1dB<a href='x'>", waitmsg=True))
        assert echo.reply is not None and echo.reply["Content"] == "已收到扫码结果：ABa href='x'"


async def test_unknown_types_answer_success_and_are_logged(make_sim: SimFactory, caplog: Any) -> None:
    sim = make_sim("safe", "json")
    with caplog.at_level(logging.INFO, logger="wechat_bot"):
        result = await sim.send({**sim.text("o_unknown", "x"), "MsgType": "hologram"})
    assert result.acknowledged and result.reply is None and result.text == "success"
    assert "unknown message kind 'hologram'" in caplog.text


async def test_log_keeps_no_secrets(make_sim: SimFactory, fetch: Fetch, caplog: Any) -> None:
    # Production logs at INFO; our own modules are checked down to DEBUG. (Library debug logs, such
    # as pymongo's command log, print whole documents and are for a developer's machine only.)
    sim = make_sim("safe")
    caplog.set_level(logging.INFO)
    for ours in ("wechat_bot", "handlers", "services"):
        caplog.set_level(logging.DEBUG, logger=ours)
    url, body, headers = sim.build_request(sim.text("o_secret_worker_123456", "法律"))
    query = dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))
    await fetch(path_of(url).replace("msg_signature=", "msg_signature=f", 1), method="POST", body=body)
    await post_encrypted(fetch, sim, BILLION_LAUGHS.encode())
    await sim.send_text("o_secret_worker_123456", "法律")
    await sim.send({**sim.text("o_secret_worker_123456", "x"), "MsgType": "hologram"})
    text = caplog.text
    assert "refused 403" in text and "refused 400" in text  # the log does say what happened
    for secret in (TOKEN, AES_KEY, OA_SECRET, query["signature"], query["msg_signature"], "o_secret_worker_123456"):
        assert secret not in text
