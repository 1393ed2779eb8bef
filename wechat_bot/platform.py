"""Bot handlers for the platform's reports: send-job results and subscribe-message choices.

They answer "success" at once and hand the fields to the listeners other features register
(see hooks.py): the push feature records deliveries and consents.
"""

from __future__ import annotations

import logging

from wechat_bot import hooks
from wechat_bot.context import Ctx
from wechat_bot.message import ACK, Message, Reply

log = logging.getLogger(__name__)


async def report(msg: Message, ctx: Ctx) -> Reply:
    listeners = hooks.report_listeners(ctx.deps)
    if not listeners:
        log.info("platform report %s (status %.40r): no listener", msg.event, msg.get("Status"))
    for listener in listeners:
        try:
            await listener(msg.event, msg.fields)
        except Exception:  # noqa: BLE001 - one listener's failure must not hide the report from others
            log.exception("report listener %s failed", getattr(listener, "__qualname__", listener))
    return ACK
