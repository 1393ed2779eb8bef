"""Bot handlers answering from editors' content: keyword rules, menu clicks, the default reply.

Plain functions, not coroutines: everything they need is in the in-memory snapshot, so the
callback answers them inline with no task and no I/O.
"""

from __future__ import annotations

import logging

from wechat_bot.context import Ctx
from wechat_bot.message import ACK, Message, Reply, Text

log = logging.getLogger(__name__)

# Used only when the content has no default reply at all (an empty database, say).
FALLBACK = Text("您好，消息已收到。如需帮助，请回复【人工】联系客服，或拨打职工服务热线 12351。")


def keyword_reply(msg: Message, ctx: Ctx) -> Reply | None:
    """Editors' keyword rules (exact, prefix, contains, regex; by priority), per org."""
    return _keyword(msg.content, ctx)


def voice_reply(msg: Message, ctx: Ctx) -> Reply | None:
    """A voice message with WeChat's speech recognition is matched like text."""
    recognition = msg.get("Recognition").strip("。！？!?. ")
    return _keyword(recognition, ctx) if recognition else None


def _keyword(text: str, ctx: Ctx) -> Reply | None:
    if not text:
        return None
    found = ctx.content.keyword(ctx.org_path, text)
    if found is None:
        return None
    rule, org = found
    return rule.reply.render(org_name=org.name)


def menu_click(msg: Message, ctx: Ctx) -> Reply:
    key = msg.event_key
    reply = ctx.render(ctx.content.click(ctx.org_path, key))
    if reply is None:
        log.warning("menu key %.64r has no reply configured", key)
        return default_reply(msg, ctx)
    return reply


def default_reply(msg: Message, ctx: Ctx) -> Reply:
    """What a worker gets when nothing else answered (events are just acknowledged)."""
    if msg.type == "event" and msg.event != "click":
        return ACK
    return ctx.render(ctx.content.default(ctx.org_path)) or FALLBACK
