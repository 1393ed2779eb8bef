"""What the official account 山东工会 does, in one table: read it top to bottom.

Each line: what WeChat delivers → who answers. Within a kind, lines are tried in order; a
handler returning None passes to the next line and finally to the default.
"""

from __future__ import annotations

from wechat_bot import benefits, content, following, location, menu, platform
from wechat_bot.router import Router, default, event, message, text


def build_router() -> Router:
    return Router([
        # A worker writes: editors' keyword rules per org (投票, 报名, 问卷, 心理, 法律, 人工 → agent ...)
        text(content.keyword_reply),
        # 抢券 / 优惠券 (when no editor's rule answered): the mini-program's coupons page
        text(benefits.coupons_link),
        # A worker speaks: WeChat's speech recognition goes through the same keyword rules
        message("voice", handler=content.voice_reply),
        # A worker sends a location: the three nearest worker-service centres
        message("location", handler=location.nearest_centres),
        # Following: welcome (per org); QR scenes org:<code> (bind) and checkin:<activity> (check in)
        event("subscribe", handler=following.subscribed),
        # Leaving: their personal data is deleted, only aggregate counts remain
        event("unsubscribe", handler=following.unsubscribed),
        # A follower scans a parametric QR code
        event("SCAN", handler=following.scanned),
        # The menu: click replies from editors' content; links and mini-program pages need no answer
        event("CLICK", handler=content.menu_click),
        event("VIEW", "view_miniprogram", handler=menu.acknowledge),
        event("scancode_push", "scancode_waitmsg", handler=menu.scancode),
        # Photo and location pickers: the pictures / the location follow as ordinary messages
        event("pic_sysphoto", "pic_photo_or_album", "pic_weixin", "location_select", handler=menu.acknowledge),
        # The client reports its position: nearest centres, at most once per 10 minutes
        event("LOCATION", handler=location.reported),
        # Platform reports for the push feature (deliveries, mass jobs, publishing, subscribe choices)
        event("TEMPLATESENDJOBFINISH", "MASSSENDJOBFINISH", "PUBLISHJOBFINISH", handler=platform.report),
        event("subscribe_msg_popup_event", "subscribe_msg_change_event", "subscribe_msg_sent_event",
              handler=platform.report),
        # Pictures, video, links (and texts no rule matched): the default reply of the follower's org
        message("image", "video", "shortvideo", "link", handler=content.default_reply),
        default(content.default_reply),
    ])  # fmt: skip
