"""Run lifecycle: start an occurrence, pause and resume it (by an editor or by the daily quota), finish it.

Every transition is a guarded update of the run in MongoDB (the expected status is in the filter),
then mirrored to Redis where the workers and the progress bar read it. Any instance may call any
of these at any time; a transition that lost the race simply does nothing.

Run statuses: running, paused (by an editor), quota_paused (WeChat's daily quota is spent; resumes
by itself at midnight Beijing time), done, cancelled, failed (a push-wide error such as an invalid
template), skipped (the previous occurrence was still running), missed (the scheduler was down
past the grace time).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from core import clock
from core.deps import Deps
from services.pushes import deliveries_store as deliveries
from services.pushes import runs_store as runs
from services.pushes import store as push_store
from services.pushes.live import COUNTS, current_key, get_state
from storage import invalidation

log = logging.getLogger(__name__)

ACTIVE = ("running", "paused", "quota_paused")
FINAL = ("done", "cancelled", "failed", "skipped", "missed")
QUOTA_GRACE = timedelta(minutes=1)  # resume a minute after midnight, when WeChat has surely reset


def occurrence_key(at: datetime) -> str:
    """Base-36 seconds: short enough that "<run id>:<openid>" fits WeChat's 64-byte client_msg_id."""
    n = int(at.timestamp())
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def next_quota_reset(now: datetime) -> datetime:
    """WeChat's daily quotas return at midnight Beijing time."""
    local = now.astimezone(clock.TZ)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    resume = midnight + QUOTA_GRACE
    if resume - local > timedelta(hours=23, minutes=30):  # spent right after a reset: try again soon
        resume = local + timedelta(minutes=10)
    return resume


RUNS_SPACE = "push_runs"


async def runs_changed(deps: Deps, run_id: str) -> None:
    """A run started or its audience was planned: every instance's fan-out looks at once (instead of
    at its next poll), so a new run's ranges are cut everywhere from the start."""
    await invalidation.hub(deps).changed(RUNS_SPACE, run_id)


async def start_run(
    deps: Deps, push: dict[str, Any], occurrence: datetime, *, now: datetime | None = None
) -> tuple[str, bool]:
    """Create the run of one occurrence; (run id, False) when it exists already (a duplicate fire)."""
    now = now or clock.now()
    run_id = f"{push['_id']}-{occurrence_key(occurrence)}"
    status, reason = "running", None
    current = push.get("current_run")
    if current and current != run_id:
        previous = await runs.get_run(deps.db, current)
        if previous is not None and previous["status"] in ACTIVE:
            status, reason = "skipped", "上一次推送尚未完成，本次跳过"
    doc = {
        "_id": run_id, "push": push["_id"], "org_path": push["org_path"], "channel": push["channel"],
        "version": push["version"], "occurrence": occurrence, "status": status, "rev": 0, "created_at": now,
        "started_at": now, "snap": {"done": False, "seq": 0, "resume": None, "total": 0, "owner": None,
                                    "lease_until": runs.EPOCH},
    }  # fmt: skip
    if reason:
        doc |= {"reason": reason, "finished_at": now, "totals": dict.fromkeys(COUNTS, 0)}
    if not await runs.create_run(deps.db, doc):
        existing = await runs.get_run(deps.db, run_id)
        if existing is not None and existing["status"] == "running" and push.get("current_run") != run_id:
            await _adopt(deps, push, existing, first=False)  # a fire interrupted after creating its run
        return run_id, False
    if status == "running":
        await _adopt(deps, push, doc, first=True)
        await runs_changed(deps, run_id)
    log.info("push %s: run %s %s", push["_id"], run_id, status)
    return run_id, True


async def _adopt(deps: Deps, push: dict[str, Any], run: dict[str, Any], *, first: bool) -> None:
    """Point the push and Redis at its new run (idempotent: safe to repeat after an interruption).

    An editor may have paused or cancelled the push while its run was being created: the run then
    follows the push instead of sending."""
    await mirror_run(deps, run)
    await get_state(deps).redis.set(current_key(push["_id"]), run["_id"])
    changes: dict[str, Any] = {"current_run": run["_id"], "last_run_at": run["started_at"]}
    if push["schedule"]["kind"] != "cron":
        changes |= {"status": "running", "armed": False}
    inc = {"runs": 1} if first else None
    if await push_store.transition(deps.db, push["_id"], ("scheduled", "running"), changes, inc=inc) is None:
        now = await push_store.get(deps.db, push["_id"])
        if now is None or now["status"] in ("cancelled", "failed", "done"):
            await set_status(deps, run["_id"], ACTIVE, "cancelled", reason="编辑已取消")
        elif now["status"] == "paused":
            await push_store.transition(deps.db, push["_id"], ("paused",), {"current_run": run["_id"]}, inc=inc)
            await set_status(deps, run["_id"], ("running",), "paused")


async def repair_started(deps: Deps, now: datetime) -> int:
    """Pushes marked running whose run was never created (the process died in between): create it
    now, with the occurrence recorded when they were started, so a repeat finds the same run."""
    repaired = 0
    for push in await push_store.started_without_run(deps.db):
        start_at = push.get("start_at")
        if start_at is not None and (now - clock.localize(start_at)).total_seconds() > 5:
            await start_run(deps, push, clock.localize(start_at))
            repaired += 1
    return repaired


async def set_status(
    deps: Deps, run_id: str, expect: tuple[str, ...], status: str, *, reason: str | None = None,
    paused_until: datetime | None = None,
) -> dict[str, Any] | None:  # fmt: skip
    changes: dict[str, Any] = {"status": status}
    unset: tuple[str, ...] = ()
    if reason is not None:
        changes["reason"] = reason
    if paused_until is not None:
        changes["paused_until"] = paused_until
    else:
        unset = ("paused_until",)
    if status in FINAL:
        changes["finished_at"] = clock.now()
    if status in ("cancelled", "failed"):
        changes["settle_pending"] = True  # the supervisor counts its exact totals once holders let go
    run = await runs.set_run(deps.db, run_id, expect, changes, unset)
    if run is None:
        return None
    await mirror_run(deps, run)
    if status in ("cancelled", "failed"):
        await _push_after(deps, run)
    return run


async def mirror_run(deps: Deps, run: dict[str, Any]) -> None:
    """Copy a run's state to Redis (also heals a Redis that lost it)."""
    snap = run.get("snap") or {}
    until = run.get("paused_until")
    fields: dict[str, Any] = {
        "status": run["status"], "push": run["push"], "channel": run["channel"], "total": snap.get("total", 0),
        "chunks": snap.get("seq", 0), "snap_done": int(bool(snap.get("done"))),
        "paused_until": until.timestamp() if until else "", "reason": run.get("reason") or "",
        "started": run["started_at"].timestamp(),
        "finished": run["finished_at"].timestamp() if run.get("finished_at") else "",
    }  # fmt: skip
    state = get_state(deps)
    if run.get("totals"):
        await state.set_totals(run["_id"], run["totals"])
    await state.mirror(run["_id"], fields, rev=int(run.get("rev", 0)))


async def quota_pause(deps: Deps, channel: str, now: datetime) -> datetime:
    """The channel's daily quota is spent: pause every running run of it until the quota returns."""
    until = next_quota_reset(now)
    await get_state(deps).set_quota_until(channel, until.timestamp())
    for run in await runs.runs_with_status(deps.db, "running"):
        if run["channel"] == channel:
            await set_status(deps, run["_id"], ("running",), "quota_paused", paused_until=until)
    log.warning("push channel %s: daily quota spent, paused until %s", channel, until.isoformat())
    return until


async def resume_due(deps: Deps, now: datetime) -> int:
    """Runs whose quota pause is over go back to running (any instance may do this; one wins)."""
    state = get_state(deps)
    resumed = 0
    for run in await runs.runs_with_status(deps.db, "quota_paused"):
        until = run.get("paused_until")
        if until is not None and clock.localize(until) <= now:
            if await state.quota_until(run["channel"]) <= now.timestamp():
                await state.clear_quota(run["channel"])
            if await set_status(deps, run["_id"], ("quota_paused",), "running"):
                resumed += 1
    return resumed


async def maybe_finish(deps: Deps, run_id: str) -> bool:
    """Mark a run done once its snapshot is complete and every chunk is done.

    Redis answers the cheap question first (is any chunk still queued?), so MongoDB is only asked
    near the end of a run, not after each of its thousand chunks.
    """
    if await get_state(deps).queued(run_id) > 0:
        return False
    run = await runs.get_run(deps.db, run_id)
    if run is None or run["status"] not in ACTIVE or not run["snap"].get("done"):
        return False
    if not await runs.all_done(deps.db, run_id):
        return False
    totals = await runs.done_totals(deps.db, run_id)
    changes = {"status": "done", "finished_at": clock.now(), "totals": totals}
    finished = await runs.set_run(deps.db, run_id, ACTIVE, changes, ("paused_until",))
    if finished is None:
        return False
    await mirror_run(deps, finished)
    await _push_after(deps, finished)
    log.info("push run %s done: %s", run_id, totals)
    return True


async def settle(deps: Deps, run: dict[str, Any]) -> bool:
    """Exact totals of a run that stopped early (cancelled, failed): done chunks, released chunks,
    and chunks a crashed holder left behind (their records are looked up). Waits (returns False)
    while a live holder is still winding a chunk down; the supervisor tries again."""
    db = deps.db
    totals = await runs.done_totals(db, run["_id"])
    now = clock.now()
    for state in ("pending", "leased"):
        for chunk in await runs.open_chunks(db, run["_id"], state):
            if state == "leased" and clock.localize(chunk["lease_until"]) > now:
                return False
            counts = chunk.get("counts")
            if not chunk.get("attempts"):
                continue
            if counts is None or state == "leased":
                full = await runs.get_chunk(db, run["_id"], chunk["seq"])
                ids = [deliveries.record_id(run["_id"], o) for o in (full or {}).get("openids", [])]
                found = await deliveries.find(db, ids, {"status": 1})
                counts = {k: sum(1 for d in found.values() if d.get("status") == k) for k in COUNTS}
            for key in COUNTS:
                totals[key] += int(counts.get(key, 0))
    updated = await runs.set_run(db, run["_id"], None, {"totals": totals, "settled": True}, ("settle_pending",))
    if updated is not None:
        await get_state(deps).set_totals(run["_id"], totals)
    return True


async def settle_stopped(deps: Deps) -> None:
    for run in await runs.runs_to_settle(deps.db):
        await settle(deps, run)


async def _push_after(deps: Deps, run: dict[str, Any]) -> None:
    """A one-shot push takes its run's final status; a recurring push stays scheduled."""
    push = await push_store.get(deps.db, run["push"])
    if push is None or push.get("current_run") != run["_id"] or push["schedule"]["kind"] == "cron":
        return
    if run["status"] in ("done", "failed", "cancelled"):
        changes: dict[str, Any] = {"status": run["status"]}
        if run.get("reason"):
            changes["last_error"] = run["reason"]
        await push_store.transition(deps.db, push["_id"], ("running", "paused"), changes)
