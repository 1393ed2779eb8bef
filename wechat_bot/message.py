"""An incoming message or event, and the replies a bot handler can return.

Fields keep WeChat's names (`FromUserName`, `Content`, `EventKey`...) whether the message came
as XML or JSON, so handlers read one shape. Replies are small value objects rendered by the
callback (passive reply) or, when an answer comes late, sent as a customer-service message.
"""

from __future__ import annotations

from typing import Any

from services.replies.types import ACK, REPLY_TYPES, Ack, Article, Image, News, Reply, Text, Transfer


class Message:
    __slots__ = ("event", "fields", "fmt", "type")

    def __init__(self, fields: dict[str, Any], fmt: str = "xml") -> None:
        self.fields = fields
        self.fmt = fmt  # "xml" or "json": the reply uses the same format
        self.type = str(fields.get("MsgType") or "").lower()
        # WeChat spells events both ways (SCAN, subscribe); compare lower-cased.
        self.event = str(fields.get("Event") or "").lower() if self.type == "event" else ""

    def get(self, name: str, default: str = "") -> str:
        value = self.fields.get(name)
        return default if value is None or isinstance(value, dict | list) else str(value)

    @property
    def openid(self) -> str:
        return self.get("FromUserName")

    @property
    def account(self) -> str:
        return self.get("ToUserName")

    @property
    def create_time(self) -> int:
        try:
            return int(self.fields.get("CreateTime") or 0)
        except (TypeError, ValueError):
            return 0

    @property
    def content(self) -> str:
        return self.get("Content")

    @property
    def event_key(self) -> str:
        return self.get("EventKey")

    def nested(self, *path: str) -> Any:
        """A nested field (`nested("ScanCodeInfo", "ScanResult")`), or None."""
        value: Any = self.fields
        for name in path:
            if not isinstance(value, dict):
                return None
            value = value.get(name)
        return value

    @property
    def kind(self) -> str:
        """`text`, `image` ... for messages; `event:<name>` for events (metrics and logs)."""
        return f"event:{self.event}" if self.type == "event" else self.type

    @property
    def log_id(self) -> str:
        """Names the message in the log without the worker's openid (masked) or their words."""
        who = self.openid[:6] + "…" if len(self.openid) > 6 else self.openid
        msg_id = self.get("MsgId") or self.get("MsgID")
        return f"{self.kind}#{msg_id}" if msg_id else f"{self.kind}@{who}:{self.get('CreateTime')}"

    @property
    def dedupe_key(self) -> str:
        """WeChat's rule: MsgId for messages; FromUserName + CreateTime + Event for events.

        For events we add EventKey or MsgID when present: a retry carries the same ones, and two
        different events of one user in one second (two QR codes, two template results) stay apart.
        """
        if self.type != "event":
            msg_id = self.get("MsgId") or self.get("MsgID")
            if msg_id:
                return f"m:{msg_id}"
            return f"x:{self.openid}:{self.get('CreateTime')}:{self.type}"
        extra = self.get("EventKey") or self.get("MsgID") or self.get("MsgId")
        return f"e:{self.openid}:{self.get('CreateTime')}:{self.event}" + (f":{extra[:128]}" if extra else "")


def as_list(value: Any) -> list[Any]:
    """Repeated elements arrive as a list, a single one as the element itself (XML and JSON alike)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


__all__ = ["ACK", "REPLY_TYPES", "Ack", "Article", "Image", "News", "Reply", "Text", "Transfer"]


# --- replies (the value objects live with the editable content: services.replies.types) ---------
def reply_fields(reply: Reply, msg: Message, create_time: int) -> dict[str, Any] | None:
    """The passive-reply fields for `reply` to `msg` (None for Ack)."""
    if isinstance(reply, Ack):
        return None
    head: dict[str, Any] = {"ToUserName": msg.openid, "FromUserName": msg.account, "CreateTime": create_time}
    if isinstance(reply, Text):
        return {**head, "MsgType": "text", "Content": reply.content}
    if isinstance(reply, News):
        items = [
            {"Title": a.title, "Description": a.description, "PicUrl": a.pic_url, "Url": a.url}
            for a in reply.articles[:1]
        ]
        return {**head, "MsgType": "news", "ArticleCount": len(items), "Articles": items}
    if isinstance(reply, Image):
        return {**head, "MsgType": "image", "Image": {"MediaId": reply.media_id}}
    out = {**head, "MsgType": "transfer_customer_service"}
    if reply.kf_account:
        out["TransInfo"] = {"KfAccount": reply.kf_account}
    return out


def custom_message(reply: Reply) -> tuple[str, dict[str, Any]] | None:
    """(msgtype, payload) for sending `reply` later as a customer-service message, if it can be."""
    if isinstance(reply, Text):
        return "text", {"content": reply.content}
    if isinstance(reply, News) and reply.articles:
        a = reply.articles[0]
        return "news", {"articles": [{"title": a.title, "description": a.description, "url": a.url,
                                      "picurl": a.pic_url}]}  # fmt: skip
    if isinstance(reply, Image):
        return "image", {"media_id": reply.media_id}
    return None  # Ack needs nothing; a transfer cannot happen after the fact
