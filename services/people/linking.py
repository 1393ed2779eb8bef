"""Linking the follower, the mini-program user and the member of one person.

WeChat gives a follower's unionid only through `user/info` (the subscribe event carries none), so
a follow queues the openid and a drainer looks the queue up 100 at a time with
`user/info/batchget`, from any process, one drainer at a time (a lease); a batch leaves the queue
only after its unionids are stored. Followers from before this existed are queued by a back-fill
that walks the followers' roster in Redis (services/followers/roster.py: every subscribed follower,
by partition, in openid order) from a cursor, and asks MongoDB only which of each step's openids
lack a unionid, by _id. (Walking `followers` itself in openid order with that filter made the
embedded MongoDB-wire server sort every follower left at each step.) Each unionid found links the
mini-program user with the same unionid (if any) and copies a bound member's org to the follower.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.deps import Deps
from core.wechat.errors import WeChatError
from services.followers import following, roster
from services.members import binding, sessions
from services.members.binding import BindRequest
from services.members.sessions import CurrentUser, LoginResult
from services.menus import city_tags
from services.people import live

log = logging.getLogger(__name__)

BATCH = 100  # user/info/batchget takes at most 100 openids
LEASE_SECONDS = 60.0
BACKFILL_STEP = 1000  # followers queued per back-fill turn: the queue drains 10 calls a turn
WAIT_ERRCODES = frozenset({45009, 45011, -1})  # daily quota, rate limit, busy: the batch waits


@dataclass(frozen=True)
class DrainResult:
    looked_up: int
    linked: int
    waiting: bool  # WeChat said wait (quota, rate, busy); the rest waits for the next turn


async def follower_joined(deps: Deps, openid: str) -> None:
    """A follow (or re-follow): their unionid is looked up in the background."""
    await live.enqueue(deps.redis, [openid])


async def drain(deps: Deps, max_batches: int = 10) -> DrainResult:
    lease = live.drain_lease(deps.redis, LEASE_SECONDS)
    if not await lease.acquire():
        return DrainResult(0, 0, False)  # another process drains
    looked_up = linked = 0
    try:
        for _ in range(max_batches):
            batch = await live.peek(deps.redis, BATCH)
            if not batch:
                break
            try:
                infos = await deps.oa.user_info_batch(batch)
            except WeChatError as exc:
                if exc.errcode in WAIT_ERRCODES:
                    log.warning("unionid look-up paused (%s); retrying later", exc)
                    return DrainResult(looked_up, linked, True)
                raise
            unionids = {str(i["openid"]): str(i["unionid"]) for i in infos if i.get("openid") and i.get("unionid")}
            await following.set_unionids(deps.db, unionids)
            for openid, unionid in unionids.items():
                linked += await _link(deps, openid, unionid)
            await live.remove(deps.redis, batch)  # only now: a crash before this leaves the batch queued
            looked_up += len(batch)
    finally:
        await lease.release()
    return DrainResult(looked_up, linked, False)


async def _link(deps: Deps, follower_openid: str, unionid: str) -> int:
    user = await binding.link_follower(deps, unionid, follower_openid)
    if user is None:
        return 0
    if user.member_id and user.org:
        await sync_follower_org(deps, follower_openid, user.org)
    return 1


async def sync_follower_org(deps: Deps, follower_openid: str, org_code: str) -> None:
    """A member's org becomes their follower's org: city menus, city replies and pushes by org."""
    bound = await following.bind(deps.db, deps.redis, follower_openid, org_code)
    if bound.org_path:
        await city_tags.queue(deps.redis, follower_openid, bound.org_path, bound.previous_path)


async def backfill_step(deps: Deps, step: int = BACKFILL_STEP) -> int:
    """Queue the next `step` followers' openids that lack a unionid; returns how many followers it
    visited (0 once everyone was visited, while the queue still holds a step's worth: new followers
    go first, or while the roster is being rebuilt)."""
    if await live.queued(deps.redis) >= step:
        return 0
    cursor = await live.backfill_cursor(deps.redis)
    if cursor is None or not await roster.ready(deps.redis):
        return 0
    partition, after = _position(cursor)
    visited: list[str] = []
    while partition < roster.PARTITIONS and len(visited) < step:
        want = step - len(visited)
        page = await roster.page(deps.redis, partition, roster.EVERYONE, after, None, want)
        visited += page
        if len(page) < want:
            partition, after = partition + 1, None
        else:
            after = page[-1]
    await live.enqueue(deps.redis, await following.without_unionid(deps.db, visited))
    await live.advance_backfill(deps.redis, f"{partition:02d}|{after or ''}" if partition < roster.PARTITIONS else None)
    return len(visited)


def _position(cursor: str) -> tuple[int, str | None]:
    """(partition, last openid visited in it) from the cursor "PP|openid". Anything else (never
    started, or a cursor of the walk over MongoDB's order) starts from the beginning: followers who
    have their unionid already are visited, not queued."""
    head, sep, openid = cursor.partition("|")
    if not sep or len(head) != 2 or not head.isdigit():
        return 0, None
    return int(head), openid or None


async def login(deps: Deps, code: str) -> LoginResult:
    """Mini-program login: the user is linked to the follower with the same unionid, whose org
    follows a bound membership."""
    result = await sessions.login(deps, code, follower_of=_follower_of(deps))
    user = await binding.mini_user(deps, result.user.openid)
    if user is not None and user.member_id and user.follower_openid and user.org:
        await sync_follower_org(deps, user.follower_openid, user.org)
    return result


async def bind(deps: Deps, user: CurrentUser, req: BindRequest) -> dict[str, object]:
    """Bind a mini-program user to a member; the linked follower takes the member's org."""
    profile = await binding.bind(deps, user, req)
    bound = await binding.mini_user(deps, user.openid)
    if bound is not None and bound.follower_openid and bound.org:
        await sync_follower_org(deps, bound.follower_openid, bound.org)
    return profile


def _follower_of(deps: Deps) -> sessions.FollowerLookup:
    async def lookup(unionid: str) -> str:
        return await following.openid_of_unionid(deps.db, unionid)

    return lookup


async def housekeeping_turn(deps: Deps) -> None:
    """One turn of the background linking: queue older followers, look the queue up."""
    await backfill_step(deps)
    await drain(deps)
