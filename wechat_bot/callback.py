"""The callback's envelope: who may post (signature, time window), and turning a body into a Message.

Everything here is checked before any work is done, and every refusal is a `Rejected` with an
HTTP status, a stable code, a Chinese message for people and an English reason for the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wechat_bot import wire
from wechat_bot.crypto import CryptoError, Envelope, signature_ok
from wechat_bot.message import Message

_NONCE = re.compile(r"[0-9A-Za-z_\-]{1,64}")
MAX_OPENID = 128


class Rejected(Exception):
    def __init__(self, status: int, code: str, message: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.message, self.reason = status, code, message, reason


@dataclass(frozen=True, slots=True)
class Query:
    signature: str = ""
    timestamp: str = ""
    nonce: str = ""
    encrypt_type: str = ""
    msg_signature: str = ""
    echostr: str = ""

    @property
    def encrypted(self) -> bool:
        return self.encrypt_type == "aes"


def check_query(q: Query, token: str, now: float, window: int) -> None:
    """The plain signature and the time window: both GET and POST, before the body is read."""
    if not (q.signature and q.timestamp and q.nonce):
        raise Rejected(403, "bad_signature", "缺少签名参数", "missing signature/timestamp/nonce")
    if not q.timestamp.isdigit() or len(q.timestamp) > 12 or not _NONCE.fullmatch(q.nonce):
        raise Rejected(403, "bad_signature", "签名参数格式不正确", "malformed timestamp or nonce")
    if abs(now - int(q.timestamp)) > window:
        raise Rejected(
            403, "stale_request", "请求已过期，请检查服务器时间", f"timestamp {q.timestamp} outside ±{window}s"
        )
    if not signature_ok(q.signature, token, q.timestamp, q.nonce):
        raise Rejected(403, "bad_signature", "签名校验失败", "signature mismatch")
    if q.encrypt_type not in ("", "raw", "aes"):
        raise Rejected(400, "bad_encrypt_type", "不支持的加密方式", f"encrypt_type {q.encrypt_type[:16]!r}")


def _bad(reason: str) -> Rejected:
    return Rejected(400, "bad_message", "消息格式不正确", reason)


def read_message(q: Query, body: bytes, token: str, envelope: Envelope | None) -> Message:
    """The message in `body` (plain, compatible or safe mode; XML or JSON)."""
    try:
        fmt = wire.detect(body)
        outer = wire.parse(body, fmt)
    except wire.WireError as exc:
        raise _bad(str(exc)) from None
    fields = outer
    if q.encrypted:
        if envelope is None:
            raise Rejected(400, "aes_not_configured", "未配置消息加解密密钥", "encrypted message, no EncodingAESKey")
        encrypted = outer.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise _bad("encrypt_type=aes without Encrypt")
        if not q.msg_signature or not signature_ok(q.msg_signature, token, q.timestamp, q.nonce, encrypted):
            raise Rejected(403, "bad_signature", "消息签名校验失败", "msg_signature mismatch")
        try:
            inner = envelope.decrypt(encrypted)
            fields = wire.parse(inner, wire.detect(inner))
        except CryptoError as exc:
            raise Rejected(400, "bad_encrypt", "消息解密失败", str(exc)) from None
        except wire.WireError as exc:
            raise _bad(f"decrypted body: {exc}") from None
    msg = Message(fields, fmt)
    openid = msg.openid
    if not msg.type or not openid or len(openid) > MAX_OPENID or not msg.account:
        raise _bad("missing MsgType, FromUserName or ToUserName")
    return msg
