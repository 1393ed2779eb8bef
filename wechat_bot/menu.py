"""Bot handlers for menu events that are not plain clicks: scans, photo pickers, links."""

from __future__ import annotations

import re

from services.followers import following as followers
from wechat_bot.context import Ctx
from wechat_bot.following import scene_reply
from wechat_bot.message import ACK, Message, Reply, Text

_UNSAFE = re.compile(r"[<>\x00-\x1f]")


def acknowledge(msg: Message, ctx: Ctx) -> Reply:
    """Events that need no answer (VIEW, view_miniprogram, pickers whose content follows as messages)."""
    return ACK


async def scancode(msg: Message, ctx: Ctx) -> Reply:
    """scancode_push / scancode_waitmsg: the menu's scanner read a code.

    For scancode_waitmsg the client shows a spinner until we answer, so it always gets a reply.
    A code carrying one of our scenes (`checkin:...`, `org:...`) is handled like a QR scan.
    """
    result = str(msg.nested("ScanCodeInfo", "ScanResult") or "")
    scene = followers.parse_scene(result)
    if scene.kind in ("org", "checkin"):
        return await scene_reply(msg, ctx, scene)
    if msg.event != "scancode_waitmsg":
        return ACK
    shown = _UNSAFE.sub("", result)[:200]
    return Text(f"已收到扫码结果：{shown}" if shown else "未能识别该二维码，请重试。")
