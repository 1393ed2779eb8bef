"""WeChat API failures, each carrying WeChat's errcode and errmsg."""

from __future__ import annotations

# Codes that mean "your access_token is not good": refresh once and retry once.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# Codes that mean "try again later": retried with backoff, a bounded number of times.
TRANSIENT_ERRCODES = frozenset({-1})
# Codes that mean "stop for today / for now": never retried by the client.
QUOTA_ERRCODES = frozenset({45009, 45011})

# What a person reads when a WeChat call fails (editors' console, logs).
ERRCODE_TEXT = {
    -1: "微信系统繁忙，请稍后重试",
    40001: "access_token 无效或已过期",
    40003: "openid 无效",
    40029: "登录凭证 code 无效",
    40125: "AppSecret 无效",
    40163: "登录凭证 code 已被使用",
    42001: "access_token 已过期",
    43004: "用户未关注公众号",
    43101: "用户拒绝接受该订阅消息",
    45009: "接口调用已达今日上限",
    45011: "接口调用太频繁，请稍后再试",
    45015: "已超过客服消息 48 小时回复时限",
    45047: "客服消息条数超过上限",
    45065: "相同 clientmsgid 的群发已存在",
}


class WeChatError(Exception):
    """WeChat answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str, api: str) -> None:
        super().__init__(f"{api}: errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api

    @property
    def text(self) -> str:
        return ERRCODE_TEXT.get(self.errcode, f"微信接口错误 {self.errcode}: {self.errmsg}")

    @property
    def is_quota(self) -> bool:
        return self.errcode in QUOTA_ERRCODES


class WeChatTransportError(WeChatError):
    """WeChat could not be reached or answered garbage (connection error, timeout, HTTP 5xx).

    `not_sent`: the failure happened before the request was written (connection refused, connect
    timeout), so WeChat cannot have acted on it; even an at-most-once send may be repeated."""

    def __init__(self, api: str, detail: str, *, not_sent: bool = False) -> None:
        super().__init__(-2, detail, api)
        self.not_sent = not_sent

    @property
    def text(self) -> str:
        return "无法连接微信服务器，请稍后重试"


def undelivered(exc: WeChatError) -> bool:
    """True when the failure proves WeChat did not deliver: it was never reached, or it said busy (-1)."""
    return exc.errcode in TRANSIENT_ERRCODES or (isinstance(exc, WeChatTransportError) and exc.not_sent)
