"""The simulator against a tiny callback app built on wechatpy: proves the two interoperate."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from xml.parsers.expat import ExpatError

import pytest
import tornado.web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto, _get_signature
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TransferCustomerServiceReply, create_reply
from wechatpy.utils import check_signature

from tools.fake_wechat import FakeWeChat, ReplyError, WeChatSimulator

TOKEN, APP_ID, AES_KEY = "test-callback-token", "wxdemo0000000oa", "Mg07ILBZw2Jjxrzew1UcCaqrI559N3rxGSWq5L3Ozic"


@dataclass
class Behaviour:
    seen: list[Any] = field(default_factory=list)  # wechatpy message objects (XML) or dicts (JSON)
    raw: list[bytes] = field(default_factory=list)
    first_delay: float = 0.0
    status: int = 200
    tamper_signature: bool = False


class Callback(tornado.web.RequestHandler):
    """What our service's /wechat does, written with wechatpy as the service is."""

    def initialize(self, b: Behaviour) -> None:
        self.b = b

    def _check(self) -> bool:
        q = self.get_query_argument
        try:
            check_signature(TOKEN, q("signature"), q("timestamp"), q("nonce"))
        except InvalidSignatureException:
            self.set_status(403)
            return False
        return True

    def get(self) -> None:
        if self._check():
            self.write(self.get_query_argument("echostr"))

    async def post(self) -> None:
        if not self._check():
            return
        q = self.get_query_argument
        is_json = self.request.headers.get("Content-Type", "").startswith("application/json")
        crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID) if q("encrypt_type", "") == "aes" else None
        body = self.request.body
        self.b.raw.append(body)
        if crypto is not None:
            outer = json.loads(body) if is_json else body
            try:
                plain = crypto.decrypt_message(outer, q("msg_signature"), q("timestamp"), q("nonce"))
            except InvalidSignatureException:
                self.set_status(403)
                return
        else:
            plain = body.decode()
        first = len(self.b.seen) == 0
        msg: Any = json.loads(plain) if is_json else parse_message(plain)
        self.b.seen.append(msg)
        if first and self.b.first_delay:
            await asyncio.sleep(self.b.first_delay)
        if self.b.status != 200:
            self.set_status(self.b.status)
            return
        reply = self._reply_json(msg) if is_json else self._reply_xml(msg)
        if reply is None:
            self.write("success")
        elif crypto is None:
            self.write(reply)
        elif is_json:
            self.write(self._encrypt_json(crypto, reply))
        else:
            out = crypto.encrypt_message(reply, "n0nce", q("timestamp"))
            if self.b.tamper_signature:
                out = out.replace("<MsgSignature><![CDATA[", "<MsgSignature><![CDATA[0")
            self.write(out)

    @staticmethod
    def _reply_xml(msg: Any) -> str | None:
        if msg.type == "text" and "]]>" in msg.content:
            return None  # wechatpy's TextReply does not escape "]]>" and would render invalid XML
        if msg.type == "text" and msg.content == "人工":
            return str(TransferCustomerServiceReply(message=msg).render())
        if msg.type == "text":
            return str(create_reply(f"收到：{msg.content}", msg).render())
        if msg.type == "event" and msg.event == "subscribe_scan":
            article = {"title": "欢迎关注山东工会", "description": msg.scene_id, "image": "", "url": "https://x"}
            return str(create_reply([article], msg).render())
        return None

    @staticmethod
    def _reply_json(msg: dict[str, Any]) -> str | None:
        if msg.get("MsgType") != "text":
            return None
        reply = {"ToUserName": msg["FromUserName"], "FromUserName": msg["ToUserName"], "CreateTime": 1,
                 "MsgType": "text", "Content": f"收到：{msg['Content']}"}  # fmt: skip
        return json.dumps(reply, ensure_ascii=False)

    @staticmethod
    def _encrypt_json(crypto: WeChatCrypto, reply: str) -> str:
        encrypted = PrpCrypto(crypto.key).encrypt(reply, APP_ID).decode()
        timestamp, nonce = "1700000000", "n0nce"
        signature = _get_signature(TOKEN, timestamp, nonce, encrypted)
        return json.dumps({"Encrypt": encrypted, "MsgSignature": signature, "TimeStamp": timestamp, "Nonce": nonce})


@pytest.fixture
async def callback() -> AsyncIterator[tuple[str, Behaviour]]:
    behaviour = Behaviour()
    sock, port = bind_unused_port()
    server = HTTPServer(tornado.web.Application([(r"/wechat", Callback, {"b": behaviour})]))
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}/wechat", behaviour
    server.stop()
    await server.close_all_connections()


def _sim(url: str, mode: str = "plain", fmt: str = "xml", **kw: Any) -> WeChatSimulator:
    return WeChatSimulator(url, TOKEN, APP_ID, AES_KEY if mode != "plain" else "", mode, fmt, **kw)


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
async def test_text_roundtrip_with_wechatpy(callback: tuple[str, Behaviour], mode: str) -> None:
    url, b = callback
    sim = _sim(url, mode)
    msg = sim.text("o_user", "投票 <&> 测试")
    result = await sim.send(msg)
    assert result.acknowledged and not result.failed and result.attempts == 1
    assert result.reply is not None
    assert result.reply["MsgType"] == "text" and result.reply["Content"] == "收到：投票 <&> 测试"
    assert result.reply["ToUserName"] == "o_user" and result.reply["FromUserName"] == "gh_sdgh_demo"
    assert isinstance(result.reply["CreateTime"], int)
    seen = b.seen[0]
    assert (seen.source, seen.target, seen.id) == ("o_user", "gh_sdgh_demo", msg["MsgId"])
    raw = b.raw[0].decode()
    assert ("<Encrypt>" in raw) == (mode != "plain")
    assert ("<Content>" in raw) == (mode != "safe")
    tricky = await sim.send_text("o_user", "a]]>b")  # a CDATA terminator survives the round trip
    assert tricky.reply is None and b.seen[-1].content == "a]]>b"
    sim.close()


def test_control_characters_are_sent_raw_as_wechat_does() -> None:
    # WeChat passes a user's \x1d through unescaped; expat (wechatpy's parser) rejects it, so the
    # service must clean the body before parsing. The simulator reproduces it on purpose.
    sim = _sim("http://127.0.0.1:1/wechat")
    _, body, _ = sim.build_request(sim.text("o_user", "a\x1db"))
    assert b"a\x1db" in body
    with pytest.raises(ExpatError):
        parse_message(body)


async def test_json_format_safe_and_plain(callback: tuple[str, Behaviour]) -> None:
    url, b = callback
    for mode in ("safe", "plain"):
        sim = _sim(url, mode, "json")
        result = await sim.send_text("o_user", "你好")
        assert result.reply_format == "json" and result.reply is not None
        assert result.reply["Content"] == "收到：你好"
        sim.close()
    assert b.seen[0]["Content"] == "你好" and set(json.loads(b.raw[0])) == {"ToUserName", "Encrypt"}


async def test_events_nested_fields_and_news_reply(callback: tuple[str, Behaviour]) -> None:
    url, b = callback
    fake = FakeWeChat()
    sim = _sim(url, "safe", fake=fake)
    scanned = await sim.scan_qr("o_new", scene="org:370100")
    assert scanned.reply is not None and scanned.reply["MsgType"] == "news"
    assert scanned.reply["ArticleCount"] == 1 and scanned.reply["Articles"][0]["Description"] == "org:370100"
    assert fake.is_follower("o_new") and "o_new" in fake.last_interaction
    assert fake.followers.info["o_new"].qr_scene_str == "org:370100"
    await sim.send(sim.scancode("o_new", "CHECKIN", "checkin:abc"))
    await sim.send(sim.pics("o_new", "PHOTO", ["md5a", "md5b"]))
    await sim.send(sim.location_select("o_new", "WHERE", 36.65, 117.12, "济南"))
    await sim.send(sim.subscribe_msg_popup("o_new", {"TPL1": "accept", "TPL2": "reject"}))
    click = await sim.send_click("o_new", "MY_ACTIVITIES")
    assert click.reply is None and click.acknowledged and click.text == "success"
    scan, pics, loc, popup, clicked = b.seen[1:]
    assert (scan.event, scan.scan_type, scan.scan_result) == ("scancode_push", "qrcode", "checkin:abc")
    assert pics.pictures == [{"PicMd5Sum": "md5a"}, {"PicMd5Sum": "md5b"}]
    assert (loc.location_x, loc.label) == ("36.65", "济南")
    popup_list = popup._data["SubscribeMsgPopupEvent"]["List"]  # wechatpy 1.8 has no class for it
    assert [i["TemplateId"] for i in popup_list] == ["TPL1", "TPL2"]
    assert (clicked.event, clicked.key) == ("click", "MY_ACTIVITIES")
    unsub = await sim.send_event("o_new", "unsubscribe")
    assert unsub.acknowledged and not fake.is_follower("o_new")
    sim.close()


async def test_scan_qr_uses_the_fake_ticket(callback: tuple[str, Behaviour]) -> None:
    url, b = callback
    fake = FakeWeChat()
    fake.add_followers(["o_old"])
    from tools.fake_wechat.state import QrTicket

    fake.qr_tickets["gQTICKET"] = QrTicket("wxdemo0000000oa", "checkin:abc", None, False, None, "http://x")
    sim = _sim(url, fake=fake)
    await sim.scan_qr("o_old", "gQTICKET", subscribed=True)
    assert (b.seen[0].event, b.seen[0].scene_id, b.seen[0].ticket) == ("scan", "checkin:abc", "gQTICKET")
    sim.close()


async def test_transfer_customer_service_reply(callback: tuple[str, Behaviour]) -> None:
    url, _ = callback
    sim = _sim(url, "compat")
    result = await sim.send_text("o_user", "人工")
    assert result.reply is not None and result.reply["MsgType"] == "transfer_customer_service"
    sim.close()


async def test_bad_reply_signature_raises(callback: tuple[str, Behaviour]) -> None:
    url, b = callback
    b.tamper_signature = True
    sim = _sim(url, "safe")
    with pytest.raises(ReplyError, match="MsgSignature"):
        await sim.send_text("o_user", "你好")
    sim.close()


async def test_timeout_retries_with_the_same_message(callback: tuple[str, Behaviour]) -> None:
    url, b = callback
    b.first_delay = 0.5
    sim = _sim(url, "safe", timeout=0.2)
    msg = sim.text("o_user", "重试")
    result = await sim.send(msg)
    assert result.attempts == 2 and result.acknowledged and result.reply is not None
    assert [m.id for m in b.seen] == [msg["MsgId"], msg["MsgId"]]
    assert b.raw[0] == b.raw[1]  # the same body; only the query's timestamp/nonce are new
    assert "599" in result.errors[0]
    sim.close()


async def test_all_attempts_fail(callback: tuple[str, Behaviour]) -> None:
    url, b = callback
    b.status = 500
    sim = _sim(url)
    result = await sim.send_text("o_user", "你好")
    assert result.failed and not result.acknowledged and result.attempts == 3 and len(b.seen) == 3
    down = _sim("http://127.0.0.1:9/wechat", max_attempts=2)
    refused = await down.send_text("o_user", "你好")
    assert refused.failed and refused.attempts == 2
    sim.close()
    down.close()


async def test_verify_url_and_tampered_requests(callback: tuple[str, Behaviour]) -> None:
    url, b = callback
    sim = _sim(url, "safe")
    verified = await sim.verify_url("echo123")
    assert verified.acknowledged and verified.text == "echo123"
    target, body, headers = sim.build_request(sim.text("o_user", "x"), timestamp="1700000000", nonce="42")
    assert "timestamp=1700000000" in target and "encrypt_type=aes" in target
    client = AsyncHTTPClient()
    resp = await client.fetch(target, method="POST", body=body, headers=headers, raise_error=False)
    assert resp.code == 200
    bad_sig = target.replace("signature=", "signature=0", 1)
    assert (await client.fetch(bad_sig, method="POST", body=body, headers=headers, raise_error=False)).code == 403
    bad_body = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[A")
    resp = await client.fetch(target, method="POST", body=bad_body, headers=headers, raise_error=False)
    assert resp.code == 403  # msg_signature no longer matches the Encrypt field
    sim.close()
