"""Subscribe messages for bookings: a confirmation at once and a reminder before the session.

The worker's consent is asked in the mini-program when they confirm (wx.requestSubscribeMessage);
`notify: true` in the intake means they accepted. Each notice is a document claimed with one
find_one_and_update before it is sent (at most once: a consent is spent by each send), and WeChat's
43101 (no consent left) is recorded as `refused`, never an error. The mini-program openid is kept
sealed in the notice until it is settled. The text names no service: a lock screen shows it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from core.clock import localize, now
from core.deps import Deps
from core.wechat import WeChatError
from services.counselling import store, store_desk
from services.counselling.common import keys

log = logging.getLogger(__name__)
HEADLINE = {"confirmed": "您的预约已确认", "pending_approval": "预约已提交，待确认", "reminder": "您的预约即将开始"}
PAGE = "pages/counselling/index"


async def queue_for(deps: Deps, booking: dict[str, Any], openid: str, at: datetime) -> None:
    k = keys(deps)
    starts: datetime = booking["starts_at"]
    remind_at = next((starts - lead for lead in (timedelta(hours=24), timedelta(hours=1)) if starts - lead > at), None)
    plan = [("confirmed", at)] + ([("reminder", remind_at)] if remind_at else [])
    docs = []
    for kind, due in plan:
        nid = f"{booking['_id']}:{kind}"
        docs.append({"_id": nid, "booking_id": booking["_id"], "kind": kind, "due": due, "state": "pending",
                     "to_sealed": k.seal(openid, nid)})  # fmt: skip
    await store_desk.queue_notices(deps.db, docs)


def message(booking: dict[str, Any], kind: str) -> dict[str, Any]:
    headline = HEADLINE["pending_approval" if kind == "confirmed" and booking["status"] == "pending_approval" else kind]
    return {
        "thing1": {"value": headline[:20]},
        "time2": {"value": localize(booking["starts_at"]).strftime("%Y年%m月%d日 %H:%M")},
    }


async def _send_one(deps: Deps, notice: dict[str, Any], at: datetime) -> str:
    booking = await store.get_booking(deps.db, notice["booking_id"])
    if booking is None or booking["status"] not in ("confirmed", "pending_approval") or booking["starts_at"] <= at:
        return "skipped"
    openid = keys(deps).open_text(notice.get("to_sealed", ""), notice["_id"])
    if not openid:
        return "skipped"
    page = f"{PAGE}?booking={booking['_id']}"
    template = deps.settings.counselling.notice_template_id
    try:
        await deps.mp.send_subscribe(openid, template, message(booking, notice["kind"]), page=page)
    except WeChatError as exc:
        if exc.errcode == 43101:
            return "refused"
        log.warning("counselling notice %s failed: %s", notice["_id"], exc)
        return "failed"
    return "sent"


async def send_due(deps: Deps, at: datetime | None = None, limit: int = 200) -> int:
    """Send what is due; safe on every instance at once (each notice is claimed before it is sent)."""
    at = at or now()
    sent = 0
    for _ in range(limit):
        notice = await store_desk.claim_notice(deps.db, at)
        if notice is None:
            break
        try:
            outcome = await _send_one(deps, notice, at)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception:  # noqa: BLE001 - one notice must not stop the others; never resent (at most once)
            log.exception("counselling notice %s failed", notice["_id"])
            outcome = "failed"
        await store_desk.finish_notice(deps.db, notice["_id"], outcome, now())
        sent += outcome == "sent"
    return sent
