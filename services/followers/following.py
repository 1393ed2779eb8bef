"""Following and leaving the account, org binding by QR scene, and what the message path caches.

Nothing here is read from MongoDB per message: the follower's org path and last interaction ride
along in the dedupe round trip (services.followers.live); any process moves the last-interaction
times to MongoDB every 30 seconds in idempotent batches ($max).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from core import clock
from services.followers import live, roster_live, store
from services.orgs import store as orgs

log = logging.getLogger(__name__)

Db = AsyncDatabase[dict[str, Any]]
UnfollowHook = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Scene:
    """A parametric QR code's scene: `org:<code>`, `checkin:<activity id>`, or something else."""

    kind: str  # "org", "checkin", "other", or "" (no QR code)
    value: str
    raw: str


def parse_scene(event_key: str) -> Scene:
    raw = event_key.removeprefix("qrscene_").strip()[:64]
    kind, sep, value = raw.partition(":")
    if sep and kind in ("org", "checkin") and value:
        return Scene(kind, value, raw)
    return Scene("other" if raw else "", raw, raw)


@dataclass(frozen=True)
class Followed:
    org: orgs.Org | None  # the org the scene bound them to (None: no org scene, or unknown code)
    org_path: tuple[str, ...]  # their org path now (bound earlier or just now); () when unbound
    unknown_org: bool = False
    previous_path: tuple[str, ...] = ()  # the org path they had before this follow or bind


async def follow(db: Db, redis: aioredis.Redis, openid: str, scene: Scene) -> Followed:
    at = clock.now()
    org = await orgs.get(db, scene.value) if scene.kind == "org" else None
    path = list(org.path) if org else None
    token = await roster_live.begin(redis, openid)
    before = await store.subscribed(db, openid, at, scene.raw, path)
    if path is None and before.get("subscribed") is not False and before.get("org_path"):
        path = list(before["org_path"])  # a repeated subscribe keeps an earlier binding
    await roster_live.settle(redis, openid, path or [], token)
    if path:
        await live.set_org_path(redis, openid, path)
    await store.count_event(db, path[-1] if path else orgs.PROVINCE_CODE, at, "subscribes")
    previous = tuple(before.get("org_path") or ()) if before.get("subscribed") is not False else ()
    return Followed(org, tuple(path or ()), unknown_org=scene.kind == "org" and org is None, previous_path=previous)


async def bind(db: Db, redis: aioredis.Redis, openid: str, code: str) -> Followed:
    """A follower scanned an `org:<code>` QR code: bind them to that org (unknown code: org None)."""
    org = await orgs.get(db, code)
    if org is None:
        return Followed(None, (), unknown_org=True)
    token = await roster_live.begin(redis, openid)
    previous = await store.bind_org(db, openid, list(org.path))
    await roster_live.settle(redis, openid, None if previous is None else org.path, token)
    if previous is None:  # a tombstone: they left the account
        return Followed(org, ())
    await live.set_org_path(redis, openid, org.path)
    return Followed(org, org.path, previous_path=tuple(previous))


async def leave(db: Db, redis: aioredis.Redis, openid: str, hooks: Sequence[UnfollowHook] = ()) -> None:
    """Unfollow: delete what we hold about them (here and in every feature's hook), count it."""
    at = clock.now()
    token = await roster_live.begin(redis, openid)
    before = await store.unsubscribed(db, openid, at)
    await roster_live.settle(redis, openid, None, token)
    await live.forget(redis, openid)
    for hook in hooks:
        try:
            await hook(openid)
        except Exception:  # noqa: BLE001 - one feature's failure must not keep the others' data
            log.exception("unfollow hook %s failed", getattr(hook, "__qualname__", hook))
    if before.get("subscribed") is not False:  # a repeated unsubscribe counts once
        await store.count_event(db, str(before.get("org") or orgs.PROVINCE_CODE), at, "unsubscribes")


async def flush_seen(db: Db, redis: aioredis.Redis, worker: str) -> int:
    """Move the last-interaction times gathered in Redis to MongoDB (any process may run this).

    Each partition is renamed away atomically, so each batch goes to exactly one process; a batch whose
    write failed is merged back (newer times win) for the next round. The old global hash is drained
    the same way until it is empty.
    """
    total = 0
    for key in live.seen_partitions():
        taken, seen = await live.take_seen(redis, key, worker)
        if not seen:
            continue
        try:
            created = await store.touch_many(db, seen)
            if created:  # followers first seen by a message: subscribed, bound to no org yet
                await roster_live.fill(redis, {o: () for o in created})
        except Exception:
            await live.give_back_seen(redis, seen)
            raise
        finally:
            await live.drop(redis, taken)
        total += len(seen)
    return total


async def locate(db: Db, redis: aioredis.Redis, openid: str, lat: float, lng: float, at: datetime) -> None:
    """A follower reported where they are (a follower first seen here joins the roster, unbound)."""
    if await store.set_location(db, openid, lat, lng, at):
        await roster_live.fill(redis, {openid: ()})


async def rebuild_org_cache(db: Db, redis: aioredis.Redis) -> int:
    """Fill the follower org cache from MongoDB when Redis lost it (one process does it, under a lock)."""
    if await live.org_cache_built(redis) or not await live.claim_org_cache_rebuild(redis):
        return 0
    n = 0
    built = False
    try:
        batch: dict[str, str] = {}
        async for openid, path in store.org_paths(db):
            batch[openid] = ",".join(path)
            if len(batch) >= 1000:
                await live.set_org_paths(redis, batch)
                n += len(batch)
                batch = {}
        if batch:
            await live.set_org_paths(redis, batch)
            n += len(batch)
        built = True
        log.info("follower org cache rebuilt: %s followers", n)
    finally:
        await live.finish_org_cache_rebuild(redis, built)
    return n


async def recent_interactions(redis: aioredis.Redis, openids: list[str]) -> dict[str, float]:
    """Last interactions the message path has seen but not yet written to MongoDB."""
    values = await live.last_seen(redis, openids)
    return {o: float(v) for o, v in zip(openids, values, strict=True) if v}


async def first_location_reply(redis: aioredis.Redis, openid: str, seconds: int) -> bool:
    """True for the first location event of a burst: that one gets the nearest centres."""
    return await live.first_location_reply(redis, openid, seconds)


async def set_unionids(db: Db, unionids: dict[str, str]) -> int:
    """Store the unionids WeChat gave for these followers (a follower who left keeps nothing)."""
    return await store.set_unionids(db, unionids)


async def without_unionid(db: Db, openids: list[str]) -> list[str]:
    return await store.without_unionid(db, openids) if openids else []


async def openid_of_unionid(db: Db, unionid: str) -> str:
    """The live follower with this unionid ("" when none)."""
    doc = await store.by_unionid(db, unionid)
    return str(doc["_id"]) if doc and doc.get("subscribed") is not False else ""


async def unionid_of(db: Db, openid: str) -> str:
    doc = await store.get(db, openid)
    return str((doc or {}).get("unionid") or "")


async def last_interaction(db: Db, redis: aioredis.Redis, openid: str) -> float | None:
    """When the follower last interacted with the account (unix time): Redis holds the newest,
    MongoDB what was moved there; None when never."""
    fresh = (await recent_interactions(redis, [openid])).get(openid)
    doc = await store.get(db, openid)
    stored = doc.get("last_interaction_at") if doc else None
    times = [t for t in (fresh, stored.timestamp() if isinstance(stored, datetime) else None) if t is not None]
    return max(times) if times else None
