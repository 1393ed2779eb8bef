"""What an APScheduler job does when it fires: start the run of one occurrence of a push.

Jobs live in a persistent store, so their callable is stored by reference
(`scheduler.jobs:fire_push`) with plain arguments (push id, push version); the executor
(scheduler/runner.py) supplies `deps` and the occurrence's scheduled time. The occurrence time is
the idempotency key: whichever instance fires it, and however often, one run is created.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from core import clock
from core.deps import Deps
from services.pushes import control as push_control
from services.pushes import runs_store as runs
from services.pushes import store as push_store

log = logging.getLogger(__name__)


async def fire_push(
    push_id: str, version: int, *, deps: Deps | None = None, scheduled_at: datetime | None = None
) -> str | None:
    """Start the run of the occurrence scheduled at `scheduled_at`; returns its run id (None: not fired)."""
    if deps is None or scheduled_at is None:
        raise RuntimeError("fire_push runs through the push executor, which supplies deps and scheduled_at")
    push = await push_store.get(deps.db, push_id)
    if push is None or not push.get("armed") or push["status"] != "scheduled":
        log.info("push %s: not armed any more, occurrence %s not fired", push_id, scheduled_at)
        return None
    if push["version"] != version:
        log.info("push %s: job of version %s is stale (now %s), not fired", push_id, version, push["version"])
        return None
    occurrence = clock.localize(scheduled_at)
    run_id, created = await push_control.start_run(deps, push, occurrence)
    if not created:
        log.info("push %s: occurrence %s already fired (run %s)", push_id, occurrence.isoformat(), run_id)
    return run_id


async def missed(deps: Deps, push_id: str, version: int, scheduled_at: datetime) -> None:
    """The scheduler was down past the grace time: record the occurrence as missed, visibly."""
    push = await push_store.get(deps.db, push_id)
    if push is None or push.get("version") != version:
        return
    occurrence = clock.localize(scheduled_at)
    now = clock.now()
    run_id = f"{push_id}-{push_control.occurrence_key(occurrence)}"
    doc: dict[str, Any] = {
        "_id": run_id, "push": push_id, "org_path": push["org_path"], "channel": push["channel"],
        "version": version, "occurrence": occurrence, "status": "missed", "rev": 0, "created_at": now,
        "started_at": now, "finished_at": now, "reason": "调度服务停机，错过了计划发送时间，本次未发送",
        "totals": dict.fromkeys(("sent", "failed", "skipped", "unknown"), 0),
        "snap": {"done": True, "seq": 0, "resume": None, "total": 0, "owner": None, "lease_until": runs.EPOCH},
    }  # fmt: skip
    if await runs.create_run(deps.db, doc) and push["schedule"]["kind"] == "at":
        changes = {"status": "failed", "armed": False, "last_error": doc["reason"]}
        await push_store.transition(deps.db, push_id, ("scheduled",), changes)
    log.warning("push %s: occurrence %s missed", push_id, occurrence.isoformat())
