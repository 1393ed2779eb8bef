"""Bot handlers for following: welcome, unfollow (data deleted), and parametric QR scenes.

Scenes: `org:<code>` binds the follower to that org (its content, pushes, statistics, and its
city's conditional menu: services/menus/city_tags.py);
`checkin:<activity id>` checks them in to an activity: `services.activities.checkin.check_in_follower` of the
activities feature, or whatever is registered with `hooks.register_checkin`.
"""

from __future__ import annotations

import logging

from services.followers import following as followers
from services.menus import city_tags as follower_tags
from wechat_bot import hooks
from wechat_bot.context import Ctx
from wechat_bot.message import ACK, Message, Reply, Text

log = logging.getLogger(__name__)

WELCOME = Text("欢迎关注“山东工会”！回复【人工】联系客服，或拨打职工服务热线 12351。")
UNKNOWN_ORG = "二维码对应的工会组织暂未开通，您仍可正常使用各项服务。"


async def subscribed(msg: Message, ctx: Ctx) -> Reply:
    scene = followers.parse_scene(msg.event_key)
    result = await followers.follow(ctx.deps.db, ctx.deps.redis, msg.openid, scene)
    if result.org_path:
        ctx.org_path = result.org_path  # the welcome of the org they just joined
        await follower_tags.queue(ctx.deps.redis, msg.openid, result.org_path, result.previous_path)
    welcome = ctx.render(ctx.content.welcome(ctx.org_path)) or WELCOME
    if scene.kind == "org":
        note = _bound_text(result.org.name) if result.org else UNKNOWN_ORG
    elif scene.kind == "checkin":
        note = await _checkin(msg, ctx, scene.value)
    else:
        return welcome
    if isinstance(welcome, Text):
        return Text(f"{welcome.content}\n\n{note}")
    return Text(note)  # a news welcome cannot carry the scene's answer; the answer matters more


async def scanned(msg: Message, ctx: Ctx) -> Reply:
    """SCAN: a follower scanned a parametric QR code (EventKey is the bare scene)."""
    return await scene_reply(msg, ctx, followers.parse_scene(msg.event_key))


async def scene_reply(msg: Message, ctx: Ctx, scene: followers.Scene) -> Reply:
    if scene.kind == "org":
        bound = await followers.bind(ctx.deps.db, ctx.deps.redis, msg.openid, scene.value)
        if bound.org_path:  # their city's menu
            await follower_tags.queue(ctx.deps.redis, msg.openid, bound.org_path, bound.previous_path)
        return Text(_bound_text(bound.org.name) if bound.org else UNKNOWN_ORG)
    if scene.kind == "checkin":
        return Text(await _checkin(msg, ctx, scene.value))
    log.info("SCAN with unrecognised scene %.64r", scene.raw)
    return ACK


async def unsubscribed(msg: Message, ctx: Ctx) -> Reply:
    await followers.leave(ctx.deps.db, ctx.deps.redis, msg.openid, hooks.unfollow_hooks(ctx.deps))
    return ACK


def _bound_text(name: str) -> str:
    return f"您已关联到“{name}”，将优先收到本地工会的活动和服务信息。"


async def _checkin(msg: Message, ctx: Ctx, activity_id: str) -> str:
    checkin = hooks.checkin(ctx.deps)
    if checkin is not None:
        return await checkin(msg.openid, activity_id)
    from services.activities.checkin import check_in_follower

    return await check_in_follower(ctx.deps, activity_id[:64], msg.openid)
