"""Background work of 职工书屋: holds not collected in 48 h, and overdue reminders.

- Expired holds: each copy is freed by one guarded update (still held, by that hold, past its time), the
  hold is removed, and the copy goes to the next worker in the title's queue or back to the shelf.
  Running it twice, or on two instances, frees each copy once.
- Overdue reminders: each overdue loan is claimed with one guarded update (`overdue_notified_at` unset ->
  now) before its subscribe message is sent, so a worker gets one reminder per loan period (at most once:
  a crash after the claim skips that reminder rather than sending two). 43101 (no consent) is not an error.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from core.clock import localize
from core.clock import now as clock_now
from core.deps import Deps
from core.wechat import WeChatError
from services.library import queue, store

log = logging.getLogger(__name__)
EVERY_S = 60.0


async def expire_holds(deps: Deps, at: datetime | None = None) -> int:
    at = at or clock_now()
    freed = 0
    for copy in await store.copies(deps.db, {"status": "held", "hold_until": {"$lt": at}}, limit=500):
        back = await store.take_copy(
            deps.db, {"_id": copy["_id"], "status": "held", "hold_id": copy.get("hold_id"), "hold_until": {"$lt": at}},
            {"status": "on_shelf", "holder": None, "hold_until": None, "hold_id": None},
        )  # fmt: skip
        if back is None:
            continue  # collected or freed meanwhile
        freed += 1
        hold = await store.delete_hold(deps.db, {"_id": copy.get("hold_id"), "copy": copy["_id"]})
        if hold is not None:
            await store.patron_release(deps.db, hold["openid"], "holds")
        await queue.allocate(deps, copy["_id"])
    return freed


def _message(title: str, due: datetime) -> dict[str, Any]:
    return {
        "thing1": {"value": f"借阅已到期：{title}"[:20]},
        "time2": {"value": localize(due).strftime("%Y年%m月%d日")},
    }


async def remind_overdue(deps: Deps, at: datetime | None = None) -> dict[str, int]:
    at = at or clock_now()
    out = {"sent": 0, "refused": 0, "failed": 0}
    for copy in await store.copies(
        deps.db, {"status": "lent", "due_at": {"$lt": at}, "overdue_notified_at": None}, 500
    ):
        claimed = await store.take_copy(
            deps.db, {"_id": copy["_id"], "status": "lent", "borrower": copy["borrower"], "overdue_notified_at": None},
            {"overdue_notified_at": at},
        )  # fmt: skip
        if claimed is None:
            continue
        title = (await store.titles(deps.db, {"_id": copy["isbn"]}, 1) or [{"title": copy["isbn"]}])[0]["title"]
        template = deps.settings.miniprogram.activity_notice_template_id  # the union's one notice template
        try:
            await deps.mp.send_subscribe(copy["borrower"], template, _message(title, copy["due_at"]),
                                         page="pages/library/mine")  # fmt: skip
            out["sent"] += 1
        except WeChatError as exc:
            out["refused" if exc.errcode == 43101 else "failed"] += 1
            if exc.errcode != 43101:
                log.warning("overdue reminder for %s failed: %s", copy["_id"], exc)
    return out


async def run_once(deps: Deps) -> None:
    """Once a minute on every instance: each step is guarded, so instances never double an effect."""
    await expire_holds(deps)
    await remind_overdue(deps)
