"""The callback's wire formats and crypto, checked against independent implementations.

wechatpy (expat-based) and the fake platform's own crypto are the references: what they write we
read, what we write they read. Hostile documents are refused with WireError, never expanded.
"""

from __future__ import annotations

import time

import pytest
from wechatpy.crypto import PrpCrypto, _get_signature

from tests.conftest import AES_KEY, OA_APP_ID, TOKEN
from tools.fake_wechat.crypto import MessageCrypto
from tools.fake_wechat.messages import parse_xml as reference_parse_xml
from tools.fake_wechat.messages import to_json, to_xml
from wechat_bot import wire
from wechat_bot.crypto import CryptoError, Envelope, sign
from wechat_bot.message import Message, Text, reply_fields

TEXT = {"ToUserName": "gh_sdgh_demo", "FromUserName": "o_worker", "CreateTime": 1700000000, "MsgType": "text",
        "Content": "投票", "MsgId": 1234567890123456789}  # fmt: skip


def test_reads_what_wechat_writes_flat_and_nested() -> None:
    assert wire.parse_xml(to_xml(TEXT)) == {k: str(v) for k, v in TEXT.items()}
    pics = {"ToUserName": "gh", "FromUserName": "o", "CreateTime": 1, "MsgType": "event", "Event": "pic_weixin",
            "SendPicsInfo": {"Count": 2, "PicList": {"item": [{"PicMd5Sum": "a1"}, {"PicMd5Sum": "b2"}]}}}  # fmt: skip
    parsed = wire.parse_xml(to_xml(pics))
    assert parsed["SendPicsInfo"]["PicList"]["item"] == [{"PicMd5Sum": "a1"}, {"PicMd5Sum": "b2"}]
    assert wire.parse_json(to_json(pics).encode()) == pics


def test_text_with_control_characters_is_read_verbatim() -> None:
    # \x1d makes expat (wechatpy, WeRoBot, ElementTree) fail; the worker still deserves an answer.
    body = to_xml({**TEXT, "Content": "投\x1d票\x01"}).encode()
    with pytest.raises(Exception):  # noqa: B017 - the reference parser fails, that is the point
        reference_parse_xml(body.decode())
    assert wire.parse_xml(body)["Content"] == "投\x1d票\x01"


def test_split_cdata_entities_comments_and_declaration() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n<!-- from WeChat -->\n<xml>\n'
        "  <Content><![CDATA[a]]]]><![CDATA[>b]]></Content>\n"
        "  <Title>x &lt; y &amp; &#26085;&#x672C;</Title>\n"
        "  <Empty/>\n</xml>\n"
    )
    assert wire.parse_xml(body) == {"Content": "a]]>b", "Title": "x < y & 日本", "Empty": ""}


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + "]><xml><Content>&lol9;</Content></xml>"
)
EXTERNAL_ENTITY = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>'


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        "<xml><Content>&undefined;</Content></xml>",
        "<xml><Content>a & b</Content></xml>",
        "<xml><a>1</b></xml>",
        "<xml><a>1</a>",
        "<xml><a>1</a></xml><xml><a>2</a></xml>",
        "<other><a>1</a></other>",
        "<xml></xml>",
        "<xml><a><![CDATA[never closed</a></xml>",
        '<?xml-stylesheet href="x"?><xml><a>1</a></xml>',
        "<xml>" + "<a>" * 50 + "</a>" * 50 + "</xml>",
        "<xml>" + "<a>1</a>" * 1000 + "</xml>",
        b"<xml><a>\xff\xfe</a></xml>",
        "",
        "hello",
    ],
)
def test_hostile_or_broken_xml_is_refused(body: str | bytes) -> None:
    raw = body if isinstance(body, bytes) else body.encode()
    with pytest.raises(wire.WireError):
        wire.parse(raw, wire.detect(raw))


def test_pathological_inputs_stay_linear() -> None:
    # Shapes that make naive regex tokenizers backtrack quadratically: each must fail fast.
    for body in ("<xml><a" + " " * 60_000, "<xml><a><![CDATA[" + "]" * 60_000, "<xml>" + "<!--" * 15_000):
        started = time.perf_counter()
        with pytest.raises(wire.WireError):
            wire.parse_xml(body)
        assert time.perf_counter() - started < 0.2


@pytest.mark.parametrize("body", ['{"a": ' * 50 + "1" + "}" * 50, "[1, 2]", '{"a": 1', "\u00ff"])
def test_hostile_or_broken_json_is_refused(body: str) -> None:
    with pytest.raises(wire.WireError):
        wire.parse_json(body.encode())


def test_our_reply_renders_like_wechat_expects() -> None:
    msg = Message(wire.parse_xml(to_xml(TEXT)))
    fields = reply_fields(Text("回复 ]]> 与 \x1d 控制符"), msg, 1700000001)
    assert fields is not None
    xml = wire.render_xml(fields)
    assert xml == wire.render_text_xml("o_worker", "gh_sdgh_demo", 1700000001, "回复 ]]> 与 \x1d 控制符")
    back = reference_parse_xml(xml)  # expat accepts it: no control characters left
    assert back["Content"] == "回复 ]]> 与  控制符" and back["ToUserName"] == "o_worker"


def test_envelope_interoperates_with_wechatpy_and_the_fake() -> None:
    env = Envelope(AES_KEY, OA_APP_ID)
    body = to_xml(TEXT).encode()
    by_wechatpy = PrpCrypto(env._cipher.algorithm.key).encrypt(body.decode(), OA_APP_ID)  # type: ignore[attr-defined]
    assert env.decrypt(by_wechatpy) == body
    assert MessageCrypto(TOKEN, AES_KEY, OA_APP_ID).decrypt(env.encrypt(body)) == body
    encrypted = env.encrypt(body)
    assert sign(TOKEN, "1700000000", "42", encrypted) == _get_signature(TOKEN, "1700000000", "42", encrypted)


@pytest.mark.parametrize("bad", ["not base64!", "AAAA", "", "QUJD" * 8])
def test_envelope_refuses_garbage(bad: str) -> None:
    with pytest.raises(CryptoError):
        Envelope(AES_KEY, OA_APP_ID).decrypt(bad)


def test_envelope_refuses_another_apps_message() -> None:
    other = MessageCrypto(TOKEN, AES_KEY, "wx_someone_else").encrypt(b"<xml><a>1</a></xml>")
    with pytest.raises(CryptoError):
        Envelope(AES_KEY, OA_APP_ID).decrypt(other)


def test_dedupe_keys_follow_wechats_rule() -> None:
    assert Message(dict(TEXT)).dedupe_key == "m:1234567890123456789"
    event = {"FromUserName": "o_1", "CreateTime": "1700000000", "MsgType": "event", "Event": "CLICK"}
    assert Message(event).dedupe_key == "e:o_1:1700000000:click"
    assert Message({**event, "EventKey": "MENU_A"}).dedupe_key == "e:o_1:1700000000:click:MENU_A"
    finished = {**event, "Event": "TEMPLATESENDJOBFINISH", "MsgID": "200"}
    assert Message(finished).dedupe_key == "e:o_1:1700000000:templatesendjobfinish:200"
    assert Message({**event, "Event": "SCAN"}).kind == "event:scan"
