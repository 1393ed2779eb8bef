"""Background work of counselling, safe on every instance at once (each step is a guarded update).

- `sweep`: frees expired holds (slot held -> open, guarded on the expiry it saw, so a hold renewed in
  between is never freed), expires their bookings, gives back slots of holds a crashed confirm left
  half-done, and lets finished sessions stop counting as a member's active booking. Runs every second:
  an expired hold frees its slot within about a second of expiry (and `hold` itself already treats an
  expired hold as free).
- `send_due` (notices.py): confirmations and reminders.
- `regenerate_all`: rolls every counsellor's two-week slot horizon forward.
- `purge`: deletes everything about sessions that ended more than 180 days ago.
`run_counselling(deps)` is the one loop that runs them all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

from core.clock import now
from core.deps import Deps
from services.activities.flusher import pause, stop_requested
from services.counselling import notices, store, store_desk
from services.counselling.booking import expire
from services.counselling.common import PURGE_AFTER
from services.counselling.desk import regenerate

log = logging.getLogger(__name__)
SWEEP_EVERY = 1.0
HOURLY = 3600.0
CONFIRM_GRACE = timedelta(seconds=60)  # a confirm in flight finishes well within this


async def sweep(deps: Deps, at: datetime | None = None) -> int:
    at = at or now()
    freed = 0
    while (slot := await store.next_expired_hold(deps.db, at)) is not None:
        freed += 1
        if slot.get("booking_id"):
            await expire(deps, slot["booking_id"], None, at)
    for doc in await store.stale_holds(deps.db, at - CONFIRM_GRACE):
        await expire(deps, doc["_id"], doc["slot_id"], at)
    await store.finished_active(deps.db, at)
    return freed


async def regenerate_all(deps: Deps) -> int:
    created = 0
    for doc in await store_desk.counsellors_with_rules(deps.db):
        created += await regenerate(deps, doc)
    return created


async def purge(deps: Deps, at: datetime | None = None) -> dict[str, int]:
    """Records of sessions more than 180 days past are deleted (the scheduled purge)."""
    gone = await store.purge_before(deps.db, (at or now()) - PURGE_AFTER)
    if any(gone.values()):
        log.info("counselling purge: %s", gone)
    return gone


async def run_counselling(deps: Deps) -> None:
    """The capability's loop (one per instance): sweep and notices every second, slots and purge hourly."""
    last_hourly = 0.0
    while not stop_requested():
        try:
            await sweep(deps)
            await notices.send_due(deps)
            if time.monotonic() - last_hourly >= HOURLY:
                last_hourly = time.monotonic()
                await regenerate_all(deps)
                await purge(deps)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a database hiccup must not end the loop
            log.exception("counselling housekeeping failed; retrying")
        await pause(SWEEP_EVERY)


async def start(deps: Deps) -> None:
    """Start hook (app.start_hooks)."""
    deps.spawn(run_counselling(deps), "counselling.housekeeping")
