"""The bot's side of 惠工咨询 / 法律援助: "咨询 <问题>" + 确认 opens a case; 人工 outside office hours explains how."""

from __future__ import annotations

from core.deps import Deps
from services.consultation import chat
from wechat_bot import hooks
from wechat_bot.context import Ctx
from wechat_bot.message import Message, Reply, Text


def wants(msg: Message, ctx: Ctx) -> bool:
    return chat.wants(msg.content)


async def consult_text(msg: Message, ctx: Ctx) -> Reply | None:
    """None when not ours after all (office hours, no draft): the keyword rules answer instead."""
    reply = await chat.answer(ctx.deps, msg.openid, ctx.org_path, msg.content, ctx.now())
    return Text(reply) if reply else None


async def start(deps: Deps) -> None:
    """Whoever unfollows leaves no consultation draft or openid behind."""

    async def forget(openid: str) -> None:
        await chat.forget_follower(deps, openid)

    hooks.on_unfollow(deps, forget)
