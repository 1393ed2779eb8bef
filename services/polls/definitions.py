"""Polls for editors (create, update, publish, close, results) and the poll's live state in Redis.

MongoDB holds what editors wrote and every stored ballot; Redis holds the rules the ballot script
enforces (a copy, rewritten on every change and at start-up) and the live counters. When the counters are
gone (a flushed Redis, a long-closed poll whose keys expired) they are rebuilt from MongoDB after the
pending ballots are flushed, so displayed counts always equal stored counts.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from core.clock import now
from core.deps import Deps, Slot
from core.errors import Conflict, Forbidden, NotFound, Unavailable
from services.orgs import store as orgs
from services.polls import ballots_store as ballots
from services.polls import flusher as ballot_flusher
from services.polls import store
from services.polls.input import check_changes, check_new
from services.polls.live import PollLive

log = logging.getLogger(__name__)

POLL_ID = re.compile(r"^[0-9a-f]{12}$")
KEEP_AFTER_CLOSE = timedelta(days=30)  # live counters stay in Redis this long after the close time
REBUILD_LOCK_MS = 60_000


LIVE = Slot[PollLive]("mp.poll_live")
RECOVERING = Slot[dict[str, "asyncio.Future[bool]"]]("mp.poll_recovering")  # poll id -> the recovery running


def live(deps: Deps) -> PollLive:
    return deps.get_or_make(LIVE, lambda: PollLive(deps.redis, deps.redis_pipe))


def _ms(dt: datetime | None) -> str:
    return str(int(dt.timestamp() * 1000)) if dt else ""


def _expire_at(poll: dict[str, Any]) -> int:
    """When the poll's Redis keys may go: 30 days after it closes, and never sooner than a day from now
    (EXPIREAT in the past deletes at once, and a long-closed poll's rebuilt counters must live a while)."""
    return int(max(poll["closes_at"] + KEEP_AFTER_CLOSE, now() + timedelta(days=1)).timestamp())


def meta_of(poll: dict[str, Any]) -> dict[str, Any]:
    anti = poll.get("anti_brush") or {}
    return {
        "status": poll["status"],
        "opens": _ms(poll.get("opens_at")),
        "closes": _ms(poll.get("closes_at")),
        "opts": "," + ",".join(o["id"] for o in poll["options"]) + ",",
        "max": poll["max_choices"],
        "per": poll["limit"]["per"],
        "count": poll["limit"]["count"],
        "org": poll["org"],
        "mo": "1" if poll.get("members_only") else "0",
        "rlu": int(anti.get("user_per_minute", 0)),
        "rli": int(anti.get("ip_per_minute", 0)),
        "exp": _expire_at(poll),
    }


async def sync_live(deps: Deps, poll: dict[str, Any]) -> None:
    """Write the poll's rules to Redis and make sure its counters exist."""
    state = live(deps)
    await state.write_meta(poll["_id"], meta_of(poll), _expire_at(poll))
    if await state.counts(poll["_id"]) is None:
        await rebuild(deps, poll)


async def _owned(deps: Deps, editor_org: str, poll_id: str) -> dict[str, Any]:
    poll = await store.get(deps.db, poll_id) if POLL_ID.match(poll_id) else None
    # Another org's poll answers exactly like a missing one, so its existence does not leak.
    if poll is None or editor_org not in poll.get("org_path", []):
        raise NotFound("投票不存在，或不属于本工会及下级工会", code="poll_not_found")
    return poll


async def _org_path(deps: Deps, editor_org: str, org: str) -> list[str]:
    found = await orgs.get(deps.db, org)
    if found is None:
        raise NotFound(f"工会组织 {org} 不存在", code="org_not_found")
    if editor_org not in found.path:
        raise Forbidden("只能为本工会及下级工会创建投票", code="forbidden")
    return list(found.path)


async def create(deps: Deps, editor_org: str, data: dict[str, Any], created_by: str = "") -> dict[str, Any]:
    """Create a poll as a draft (or published when `data["publish"]`); `data["org"]` defaults to the editor's."""
    doc = check_new(data, now())
    doc["org"] = data.get("org") or editor_org
    doc["org_path"] = await _org_path(deps, editor_org, doc["org"])
    doc["status"] = "published" if data.get("publish") else "draft"
    doc["created_by"] = created_by
    poll = await store.insert(deps.db, doc)
    await live(deps).init_counts(poll["_id"], [o["id"] for o in poll["options"]], _expire_at(poll))
    await live(deps).write_meta(poll["_id"], meta_of(poll), _expire_at(poll))
    return poll


async def update(deps: Deps, editor_org: str, poll_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    poll = await _owned(deps, editor_org, poll_id)
    counts = await results_live(deps, poll)
    fields = check_changes(poll, changes, has_ballots=counts.get("_ballots", 0) > 0)
    if "org" in fields:
        fields["org_path"] = await _org_path(deps, editor_org, fields["org"])
    updated = await store.update(deps.db, poll_id, fields, guard={"updated_at": poll["updated_at"]})
    if updated is None:
        raise Conflict("投票刚被其他人修改，请刷新后重试", code="edit_conflict")
    await live(deps).add_options(poll_id, [o["id"] for o in updated["options"]])
    await sync_live(deps, updated)
    return updated


async def _set_status(deps: Deps, editor_org: str, poll_id: str, status: str) -> dict[str, Any]:
    await _owned(deps, editor_org, poll_id)
    updated = await store.update(deps.db, poll_id, {"status": status})
    if updated is None:
        raise NotFound("投票不存在", code="poll_not_found")
    await sync_live(deps, updated)
    return updated


async def publish(deps: Deps, editor_org: str, poll_id: str) -> dict[str, Any]:
    return await _set_status(deps, editor_org, poll_id, "published")


async def close(deps: Deps, editor_org: str, poll_id: str) -> dict[str, Any]:
    """Stop accepting ballots now (the ballot script reads the new status at once)."""
    return await _set_status(deps, editor_org, poll_id, "closed")


async def get_for_editor(deps: Deps, editor_org: str, poll_id: str) -> dict[str, Any]:
    return await _owned(deps, editor_org, poll_id)


async def list_for_editor(deps: Deps, editor_org: str) -> list[dict[str, Any]]:
    return await store.list_for_editor(deps.db, editor_org)


async def results(deps: Deps, editor_org: str, poll_id: str) -> dict[str, Any]:
    """Live counts (Redis), stored counts (MongoDB) and how many ballots are still on their way."""
    poll = await _owned(deps, editor_org, poll_id)
    counts = await results_live(deps, poll)
    stored = await ballots.option_counts(deps.db, poll_id)
    return {
        "poll": poll,
        "live": counts,
        "stored": {o["id"]: stored.get(o["id"], 0) for o in poll["options"]},
        "stored_ballots": await ballots.count(deps.db, poll_id),
        "pending_ballots": await ballots.pending_count(deps.redis),
        "ranking": ranking(poll, counts),
    }


def ranking(poll: dict[str, Any], counts: dict[str, int]) -> list[dict[str, Any]]:
    """Options by votes, highest first; ties share a rank (1, 2, 2, 4)."""
    rows = sorted(poll["options"], key=lambda o: -counts.get(o["id"], 0))
    out: list[dict[str, Any]] = []
    for i, opt in enumerate(rows):
        n = counts.get(opt["id"], 0)
        rank = out[-1]["rank"] if out and out[-1]["count"] == n else i + 1
        out.append({"id": opt["id"], "title": opt["title"], "count": n, "rank": rank})
    return out


async def results_live(deps: Deps, poll: dict[str, Any]) -> dict[str, int]:
    """The poll's counters from Redis, rebuilt from MongoDB first when Redis lost them."""
    counts = await live(deps).counts(poll["_id"])
    if counts is None:
        await rebuild(deps, poll)
        counts = await live(deps).counts(poll["_id"])
    if counts is None:
        raise Unavailable("投票统计正在恢复，请稍后重试", code="counts_rebuilding")
    return counts


async def rebuild(deps: Deps, poll: dict[str, Any], wait_seconds: float = 10.0) -> None:
    """Recount from MongoDB. Ballots are refused meanwhile (no `_init`), so nothing slips between."""
    state, pid = live(deps), poll["_id"]
    owner = secrets.token_hex(8)
    if not await state.lock(pid, owner, REBUILD_LOCK_MS):
        for _ in range(int(wait_seconds / 0.05)):  # someone else is rebuilding: wait for them
            await asyncio.sleep(0.05)
            if await state.counts(pid) is not None:
                return
        return
    try:
        if await state.counts(pid) is not None:
            return
        await ballot_flusher.drain_poll(deps, pid)  # every accepted ballot is in MongoDB before we count
        day = now().strftime("%Y%m%d")
        stored = await ballots.option_counts(deps.db, pid)
        users = await ballots.per_user(deps.db, pid)
        today = await ballots.per_user(deps.db, pid, day) if poll["limit"]["per"] == "day" else {}
        counts = {o["id"]: stored.get(o["id"], 0) for o in poll["options"]}
        counts["_ballots"] = sum(n for n, _ in users.values())
        counts["_voters"] = len(users)
        # Poll-wide limits continue from the highest seq stored, so new ballot ids never collide.
        per_poll = poll["limit"]["per"] == "poll"
        user_counts = {u: (seq if per_poll else n) for u, (n, seq) in users.items()}
        day_counts = {u: seq for u, (_, seq) in today.items()}
        await state.restore(pid, counts, user_counts, day, day_counts, _expire_at(poll))
        log.warning("poll %s: live counters rebuilt from MongoDB (%s ballots)", pid, counts["_ballots"])
    finally:
        await state.unlock(pid, owner)


async def recover(deps: Deps, poll_id: str) -> bool:
    """Give Redis the poll's rules and counters again (after a flush or expiry); False if no such poll.

    One recovery per poll per process at a time: a Redis flush at a voting peak must not turn into
    thousands of identical MongoDB reads; the others wait for the first and share its answer.
    """
    inflight = deps.get_or_make(RECOVERING, dict)
    if poll_id in inflight:
        return await asyncio.shield(inflight[poll_id])
    future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    inflight[poll_id] = future
    try:
        poll = await store.get(deps.db, poll_id)
        if poll is None:
            await live(deps).mark_missing(poll_id)
        else:
            await sync_live(deps, poll)
        future.set_result(poll is not None)
    except BaseException as exc:
        if isinstance(exc, Exception):
            future.set_exception(exc)
            future.exception()  # retrieved here: the waiters (if any) re-raise it themselves
        else:
            future.cancel()
        raise
    finally:
        del inflight[poll_id]
    return future.result()


async def sync_all(deps: Deps) -> int:
    """At start-up: every running poll's rules rewritten to Redis from MongoDB, counters checked."""
    polls = await store.live_polls(deps.db, now())
    for poll in polls:
        await sync_live(deps, poll)
    return len(polls)


async def start(deps: Deps) -> None:
    """Start-up hook: flush ballots a previous process left, re-sync running polls, keep flushing."""
    await ballot_flusher.drain(deps)
    synced = await sync_all(deps)
    await ballot_flusher.start(deps)
    log.info("polls: %d running polls synced to Redis", synced)
