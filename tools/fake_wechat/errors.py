"""WeChat's error codes and messages, as the real API returns them.

The errmsg strings are WeChat's own (minus the trailing " rid: ..." request id, which is
appended only when `FakeWeChat.append_rid` is on), so a client that logs or matches them sees
what production would show.
"""

from __future__ import annotations

ERRMSG: dict[int, str] = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40022: "invalid sub button level",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40029: "invalid code",
    40032: "invalid openid list size",
    40037: "invalid template_id",
    40050: "invalid group id",
    40053: "invalid action info",
    40097: "invalid args",
    40125: "invalid appsecret",
    40130: "invalid openid list size, at least two openid",
    40163: "code been used",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    44003: "empty content",
    45007: "remark too long",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, must slower, retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    45056: "too many tags now, no need to add new",
    45057: "can't delete the tag that has too many fans",
    45058: "can't modify sys tag",
    45059: "too many tags on one user",
    45065: "clientmsgid exist",
    45157: "invalid tag name",
    45158: "tag name too long",
    45159: "invalid tag id",
    46003: "menu no exist",
    47001: "data format error",
    48001: "api unauthorized",
    65301: "no such conditional menu",
    65303: "there is no selfmenu, please create selfmenu first",
    65304: "match rule empty",
    65320: "invalid matchrule, sex and region are no longer supported",
    87014: "risky content",
}


def errmsg_for(errcode: int) -> str:
    return ERRMSG.get(errcode, f"fake wechat error {errcode}")


class WeChatError(Exception):
    """Raised by an endpoint to answer `{"errcode": ..., "errmsg": ...}`."""

    def __init__(self, errcode: int, errmsg: str | None = None) -> None:
        self.errcode = errcode
        self.errmsg = errmsg or errmsg_for(errcode)
        super().__init__(f"{errcode} {self.errmsg}")
