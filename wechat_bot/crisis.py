"""The crisis fast path in the conversation: before any keyword rule, crisis words get the hotlines.

Also here: counsellors bind their WeChat for crisis alerts by sending “值班绑定 <code>”.

A plain function (no await on the hot path): the reply comes from services.counselling.crisis_reply
and the on-duty counsellor's alert is recorded by a background task right after, so the worker's
answer never waits for the database. The bot only refers (110 / 120 / 12356); it never counsels.
"""

from __future__ import annotations

from collections.abc import Awaitable

from services import counselling
from services.counselling import duty
from wechat_bot.context import Ctx
from wechat_bot.message import Message, Reply, Text


def _answer(text: str, msg: Message, ctx: Ctx) -> Reply | None:
    reply = counselling.crisis_reply(text)
    if reply is None:
        return None
    alert = counselling.alert_on_duty(ctx.deps, source="bot", text=text, org_path=ctx.org_path, reach=msg.openid)
    ctx.deps.spawn(alert, "counselling.crisis_alert")
    return Text(reply)


def crisis_text(msg: Message, ctx: Ctx) -> Reply | None:
    return _answer(msg.content, msg, ctx)


def crisis_voice(msg: Message, ctx: Ctx) -> Reply | None:
    recognition = msg.get("Recognition")
    return _answer(recognition, msg, ctx) if recognition else None


def duty_binding(msg: Message, ctx: Ctx) -> Awaitable[Reply] | None:
    """“值班绑定 123456” from a counsellor: checked inline, and only a match waits for the database."""
    m = duty.BIND_TEXT.match(msg.content) if msg.content.startswith(("值班", " ")) else None
    return _bind(msg, ctx, m.group(1)) if m else None


async def _bind(msg: Message, ctx: Ctx, code: str) -> Reply:
    return Text(await duty.bind(ctx.deps, code, msg.openid))
