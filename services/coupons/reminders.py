"""Subscribe-message reminders before a wave opens.

A worker taps 「开抢提醒」 in the mini-program (which asks WeChat for their one-time consent) and we
record one reminder for the batch's next wave. A background loop sends each reminder a few minutes
before the wave opens: it claims one in MongoDB (pending -> sending, find_one_and_update), so two
instances never send it twice; a claim whose instance died mid-send is taken over after ten minutes
(at most one send per consent, on purpose: a one-time consent is spent by each send). WeChat's 43101
(no consent) is recorded as `refused`. The message uses the mini-program's notice template
(`miniprogram.activity_notice_template_id`: a title and a time).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.clock import localize, now
from core.deps import Deps
from core.errors import Conflict, NotFound
from core.wechat import WeChatError, WeChatTransportError
from services.coupons import store
from services.members.sessions import CurrentUser
from services.orgs.store import PROVINCE_CODE

BEFORE = timedelta(minutes=5)
STALE = timedelta(minutes=10)
POLL_SECONDS = 20.0
PAGE = "pages/coupons/detail?id={batch}"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reminder:
    wave: int
    opens_at: datetime
    remind_at: datetime
    new: bool


async def subscribe(deps: Deps, user: CurrentUser, batch_id: str) -> Reminder:
    doc = await store.get_batch(deps.db, batch_id)
    if doc is None or doc["org"] not in (user.org_path or (PROVINCE_CODE,)):  # unbound: province batches
        raise NotFound("该批优惠券不存在或不面向您所在的工会", code="batch_not_found")
    at = now()
    upcoming = [(i + 1, w["opens_at"]) for i, w in enumerate(doc["waves"]) if w["opens_at"] > at]
    if doc["status"] != "open" or not upcoming:
        raise Conflict("该批优惠券没有尚未开始的时段，无需提醒", code="no_upcoming_wave")
    wave, opens_at = upcoming[0]
    remind_at = max(at, opens_at - BEFORE)
    rid = f"{batch_id}:{user.openid}:{wave}"
    doc = {"_id": rid, "batch": batch_id, "openid": user.openid, "wave": wave, "opens_at": opens_at,
           "remind_at": remind_at, "status": "pending"}  # fmt: skip
    new = await store.add_reminder(deps.db, doc)
    return Reminder(wave, localize(opens_at), localize(remind_at), new)


async def _send(deps: Deps, reminder: dict[str, object]) -> str:
    batch = await store.get_batch(deps.db, str(reminder["batch"]))
    if batch is None or batch["status"] != "open":
        return "skipped"
    opens_at = reminder["opens_at"]
    assert isinstance(opens_at, datetime)
    data = {"thing1": {"value": f"抢券即将开始：{batch['title']}"[:20]},
            "time2": {"value": localize(opens_at).strftime("%Y年%m月%d日 %H:%M")}}  # fmt: skip
    template = deps.settings.miniprogram.activity_notice_template_id
    try:
        await deps.mp.send_subscribe(str(reminder["openid"]), template, data, page=PAGE.format(batch=batch["_id"]))
    except WeChatError as exc:
        return "refused" if exc.errcode == 43101 else f"failed:{exc.errcode}"
    except (WeChatTransportError, TimeoutError):
        return "failed:transport"
    return "sent"


async def send_due(deps: Deps, limit: int = 500) -> int:
    """Send the reminders that are due; returns how many were handled."""
    owner = f"{socket.gethostname()}:{os.getpid()}"
    handled = 0
    while handled < limit:
        at = now()
        reminder = await store.claim_due_reminder(deps.db, at, at - STALE, owner)
        if reminder is None:
            break
        outcome = await _send(deps, reminder)
        await store.finish_reminder(deps.db, reminder["_id"], outcome, now())
        handled += 1
    return handled


async def run_reminders(deps: Deps) -> None:
    while True:
        try:
            await send_due(deps)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - MongoDB or WeChat unavailable: the reminders wait
            log.exception("coupon reminders failed; retrying")
        await asyncio.sleep(POLL_SECONDS)
