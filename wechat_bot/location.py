"""Bot handlers for where the worker is: the three nearest worker-service centres.

A location message always gets an answer. LOCATION events (the client reporting its position,
possibly every few seconds while the chat is open) are answered at most once per
`EVENT_REPLY_SECONDS` per follower, so nobody gets the same list again and again.
"""

from __future__ import annotations

from services.followers import centres, following
from wechat_bot.context import Ctx
from wechat_bot.message import ACK, Message, Reply, Text

EVENT_REPLY_SECONDS = 600
BAD_LOCATION = Text("没能识别您发送的位置，请重新发送，或拨打职工服务热线 12351。")


def _point(msg: Message, lat_field: str, lng_field: str) -> tuple[float, float] | None:
    try:
        lat, lng = float(msg.get(lat_field)), float(msg.get(lng_field))
    except ValueError:
        return None
    return (lat, lng) if centres.valid_point(lat, lng) else None


async def nearest_centres(msg: Message, ctx: Ctx) -> Reply:
    """A location message: Location_X is the latitude, Location_Y the longitude."""
    point = _point(msg, "Location_X", "Location_Y")
    if point is None:
        return BAD_LOCATION
    return await _answer(msg, ctx, *point)


async def reported(msg: Message, ctx: Ctx) -> Reply:
    """LOCATION event: Latitude / Longitude."""
    point = _point(msg, "Latitude", "Longitude")
    if point is None:
        return ACK
    if not await following.first_location_reply(ctx.deps.redis, msg.openid, EVENT_REPLY_SECONDS):
        await following.locate(ctx.deps.db, ctx.deps.redis, msg.openid, *point, ctx.now())
        return ACK
    return await _answer(msg, ctx, *point)


async def _answer(msg: Message, ctx: Ctx, lat: float, lng: float) -> Reply:
    await following.locate(ctx.deps.db, ctx.deps.redis, msg.openid, lat, lng, ctx.now())
    found = await centres.nearest(ctx.deps.db, lat, lng, 3)
    return Text(centres.describe(found))
