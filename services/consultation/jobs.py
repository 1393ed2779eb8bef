"""Background work of consultation: resend interrupted answers, escalate breaches, close resolved cases.

Both are guarded updates keyed on the case's state, so every instance may run them at once and a
restart mid-run repeats nothing: an escalation happens once (`escalated_desk` must not exist yet),
a close once (the case must still be `resolved`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from core.clock import localize, now
from core.deps import Deps
from services.consultation import delivery, desks, store
from services.consultation.model import CLOSE_AFTER_DAYS
from services.consultation.timers import calendar_of, due_at, sla_of

log = logging.getLogger(__name__)

EVERY_SECONDS = 30.0
RECOVER_AFTER = 120  # seconds: far beyond one delivery's WeChat calls (timeouts and retries included)


async def escalate_breaches(deps: Deps, at: datetime | None = None) -> int:
    """Cases past their due time go to the parent org's desk as well (shown on its queue)."""
    at = at or now()
    moved = 0
    for doc in await store.due_before(deps.db, at):
        cal = await calendar_of(deps.db, doc)
        state = sla_of(doc, cal, at)  # the events decide, not the cached due time
        if not state.breached_now:
            await store.set_fields(deps.db, doc["_id"], {"due_at": due_at(state)})
            continue
        desk = await desks.get(deps.db, doc["desk"])
        parent = await desks.parent_desk(deps.db, desk, doc["category"]) if desk else None
        event = {"id": store.new_event_id(), "kind": "escalated", "at": at, "by": "system",
                 "to": parent.id if parent else ""}  # fmt: skip
        fields = {
            "escalated_desk": parent.id if parent else "",
            "escalated_path": list(parent.org_path) if parent else [],
        }
        changed = await store.transition(
            deps.db, doc["_id"], [doc["state"]], event, fields, extra_filter={"escalated_desk": {"$exists": False}}
        )
        moved += changed is not None
    return moved


async def close_resolved(deps: Deps, at: datetime | None = None) -> int:
    at = at or now()
    closed = 0
    for doc in await store.resolved_before(deps.db, at - timedelta(days=CLOSE_AFTER_DAYS)):
        event = {"id": store.new_event_id(), "kind": "closed", "at": at, "by": "system"}
        fields = {"state": "closed", "closed_at": at}
        closed += await store.transition(deps.db, doc["_id"], ["resolved"], event, fields) is not None
    return closed


async def recover_deliveries(deps: Deps, at: datetime | None = None) -> int:
    """Answers stored but never recorded as delivered (the process died while sending) go out as notices."""
    at = at or now()
    sent = 0
    for doc in await store.with_undelivered(deps.db):
        pending = set(doc.get("undelivered") or ())
        for event in doc.get("events") or ():
            if event.get("id") not in pending or localize(event["at"]) > at - timedelta(seconds=RECOVER_AFTER):
                continue
            if await store.claim_undelivered(deps.db, doc["_id"], event["id"]):
                await delivery.deliver(deps, doc, event, at.timestamp(), allow_cs=False)
                sent += 1
    return sent


async def run_once(deps: Deps) -> None:
    """One turn of the desks' clock work (every instance; each step is a guarded update)."""
    await recover_deliveries(deps)
    await escalate_breaches(deps)
    await close_resolved(deps)
