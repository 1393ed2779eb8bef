"""Following and leaving the account, org binding by QR scene, and what the message path caches.

Nothing here is read from MongoDB per message. Two Redis hashes ride along in the dedupe round
trip: `msg:fo` openid -> org path of bound followers (MongoDB stays the source of truth; the
hash is rebuilt from it when Redis lost it), and `msg:seen` openid -> last interaction (unix
time), which any process moves to MongoDB every 30 seconds in idempotent batches ($max).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from core import clock
from services.followers import store
from services.orgs import store as orgs

log = logging.getLogger(__name__)

Db = AsyncDatabase[dict[str, Any]]
ORG_KEY = "msg:fo"
SEEN_KEY = "msg:seen"
ORG_CACHE_BUILT = "msg:fo:built"
ORG_CACHE_LOCK = "msg:fo:building"
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
    before = await store.subscribed(db, openid, at, scene.raw, path)
    if path is None and before.get("subscribed") is not False and before.get("org_path"):
        path = list(before["org_path"])  # a repeated subscribe keeps an earlier binding
    if path:
        await redis.hset(ORG_KEY, openid, ",".join(path))
    await store.count_event(db, path[-1] if path else orgs.PROVINCE_CODE, at, "subscribes")
    previous = tuple(before.get("org_path") or ()) if before.get("subscribed") is not False else ()
    return Followed(org, tuple(path or ()), unknown_org=scene.kind == "org" and org is None, previous_path=previous)


async def bind(db: Db, redis: aioredis.Redis, openid: str, code: str) -> Followed:
    """A follower scanned an `org:<code>` QR code: bind them to that org (unknown code: org None)."""
    org = await orgs.get(db, code)
    if org is None:
        return Followed(None, (), unknown_org=True)
    previous = await store.bind_org(db, openid, list(org.path))
    if previous is None:  # a tombstone: they left the account
        return Followed(org, ())
    await redis.hset(ORG_KEY, openid, ",".join(org.path))
    return Followed(org, org.path, previous_path=tuple(previous))


async def leave(db: Db, redis: aioredis.Redis, openid: str, hooks: Sequence[UnfollowHook] = ()) -> None:
    """Unfollow: delete what we hold about them (here and in every feature's hook), count it."""
    at = clock.now()
    before = await store.unsubscribed(db, openid, at)
    pipe = redis.pipeline(transaction=False)
    pipe.hdel(ORG_KEY, openid)
    pipe.hdel(SEEN_KEY, openid)
    pipe.delete(f"msg:loc:{openid}")
    await pipe.execute()
    for hook in hooks:
        try:
            await hook(openid)
        except Exception:  # noqa: BLE001 - one feature's failure must not keep the others' data
            log.exception("unfollow hook %s failed", getattr(hook, "__qualname__", hook))
    if before.get("subscribed") is not False:  # a repeated unsubscribe counts once
        await store.count_event(db, str(before.get("org") or orgs.PROVINCE_CODE), at, "unsubscribes")


_TAKE_SEEN = """
if redis.call('exists', KEYS[1]) == 0 then return {} end
redis.call('rename', KEYS[1], KEYS[2])
return redis.call('hgetall', KEYS[2])
"""


async def flush_seen(db: Db, redis: aioredis.Redis, worker: str) -> int:
    """Move the last-interaction times gathered in Redis to MongoDB (any process may run this).

    The hash is renamed away atomically, so each batch goes to exactly one process; a batch whose
    write failed is merged back (newer times win) for the next round.
    """
    taken = f"{SEEN_KEY}:flushing:{worker}"
    flat = await redis.eval(_TAKE_SEEN, 2, SEEN_KEY, taken)
    if not flat:
        return 0
    seen = {flat[i]: float(flat[i + 1]) for i in range(0, len(flat), 2)}
    try:
        await store.touch_many(db, seen)
    except Exception:
        for openid, ts in seen.items():
            await redis.hsetnx(SEEN_KEY, openid, str(ts))
        raise
    finally:
        await redis.delete(taken)
    return len(seen)


async def rebuild_org_cache(db: Db, redis: aioredis.Redis) -> int:
    """Fill `msg:fo` from MongoDB when Redis lost it (one process does it, under a lock)."""
    if await redis.exists(ORG_CACHE_BUILT) or not await redis.set(ORG_CACHE_LOCK, "1", nx=True, ex=600):
        return 0
    n = 0
    try:
        batch: dict[str, str] = {}
        async for openid, path in store.org_paths(db):
            batch[openid] = ",".join(path)
            if len(batch) >= 1000:
                await redis.hset(ORG_KEY, mapping=batch)  # type: ignore[arg-type]
                n += len(batch)
                batch = {}
        if batch:
            await redis.hset(ORG_KEY, mapping=batch)  # type: ignore[arg-type]
            n += len(batch)
        await redis.set(ORG_CACHE_BUILT, "1")
        log.info("follower org cache rebuilt: %s followers", n)
    finally:
        await redis.delete(ORG_CACHE_LOCK)
    return n
