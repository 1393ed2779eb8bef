"""Followers of the official account (`followers`) and their aggregate counts (`follower_stats`).

    followers: {_id: openid, subscribed: bool, subscribed_at, scene?, org?, org_path?, unionid?,
                tags: [int], location?: {type: Point, coordinates: [lng, lat]}, location_at?,
                last_interaction_at, unsubscribed_at?}

When a follower leaves, WeChat's rules ask us to delete what we hold about them: the document is
replaced by a tombstone `{_id, subscribed: false, unsubscribed_at}` (kept so a late event or a
push can tell "left" from "unknown"), and only the per-org daily counts remain.

Writes for an openid that has left never bring data back: they filter on `subscribed != false`
and an upsert that hits the tombstone fails on the unique _id, which we ignore.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from core.clock import TZ
from storage.batching import durable

Db = AsyncDatabase[dict[str, Any]]
LIVE = {"subscribed": {"$ne": False}}


async def ensure_indexes(db: Db) -> None:
    await db.followers.create_index([("org_path", ASCENDING)])
    await db.followers.create_index([("subscribed", ASCENDING)])
    await db.followers.create_index([("unionid", ASCENDING)], sparse=True)
    await db.follower_stats.create_index([("org", ASCENDING), ("day", ASCENDING)])


async def get(db: Db, openid: str) -> dict[str, Any] | None:
    return await db.followers.find_one({"_id": openid})


async def subscribed(db: Db, openid: str, at: datetime, scene: str, org_path: list[str] | None) -> dict[str, Any]:
    """Record a follow (or re-follow); returns the document as it was before (or {})."""
    fields: dict[str, Any] = {"subscribed": True, "subscribed_at": at, "last_interaction_at": at, "scene": scene}
    if org_path:
        fields |= {"org": org_path[-1], "org_path": org_path}
    update: dict[str, Any] = {"$set": fields, "$unset": {"unsubscribed_at": ""}, "$setOnInsert": {"tags": []}}
    before = await db.followers.find_one_and_update(
        {"_id": openid}, update, upsert=True, return_document=ReturnDocument.BEFORE
    )
    return before or {}


async def unsubscribed(db: Db, openid: str, at: datetime) -> dict[str, Any]:
    """Replace the follower by a tombstone; returns what was held before (or {})."""
    before = await db.followers.find_one_and_replace(
        {"_id": openid}, {"subscribed": False, "unsubscribed_at": at}, upsert=True,
        return_document=ReturnDocument.BEFORE,
    )  # fmt: skip
    return before or {}


async def _update_live(db: Db, openid: str, update: dict[str, Any]) -> bool:
    """Update a live follower (created when unknown); True when this created them."""
    try:
        result = await db.followers.update_one({"_id": openid, **LIVE}, update, upsert=True)
    except DuplicateKeyError:
        return False  # a tombstone: they left, keep nothing
    return result.upserted_id is not None


async def bind_org(db: Db, openid: str, org_path: list[str]) -> list[str] | None:
    """Bind a live follower to an org; returns the org path they had before ([] if none), or None
    for a tombstone (they left: keep nothing)."""
    update = {"$set": {"org": org_path[-1], "org_path": org_path, "subscribed": True}}
    try:
        before = await db.followers.find_one_and_update(
            {"_id": openid, **LIVE}, update, {"org_path": 1}, upsert=True, return_document=ReturnDocument.BEFORE
        )
    except DuplicateKeyError:
        return None
    return list((before or {}).get("org_path") or [])


async def set_location(db: Db, openid: str, lat: float, lng: float, at: datetime) -> bool:
    """Record where a live follower is; True when this created the follower (first seen here)."""
    point = {"type": "Point", "coordinates": [lng, lat]}
    return await _update_live(db, openid, {"$set": {"location": point, "location_at": at, "subscribed": True}})


TOUCH_CHUNK = 250


async def touch_many(db: Db, seen: dict[str, float]) -> list[str]:
    """Batch of last-interaction times (unix seconds); only ever moves a time forward. Returns the
    openids this created (followers first seen by a message: they followed before we listened).

    Written in chunks: pymongo encodes a bulk write on the event loop, and a 1,000-document batch
    held the loop long enough to show in the /wechat latency tail.
    """
    items = list(seen.items())
    created: list[str] = []
    for i in range(0, len(items), TOUCH_CHUNK):
        created += await _touch_chunk(db, items[i : i + TOUCH_CHUNK])
    return created


async def _touch_chunk(db: Db, items: list[tuple[str, float]]) -> list[str]:
    ops = [
        UpdateOne({"_id": openid, **LIVE}, {"$max": {"last_interaction_at": _dt(ts)}, "$set": {"subscribed": True}},
                  upsert=True)
        for openid, ts in items
    ]  # fmt: skip
    if not ops:
        return []
    try:
        result = await db.followers.bulk_write(ops, ordered=False)
        return [str(v) for v in (result.upserted_ids or {}).values()]
    except BulkWriteError as exc:  # tombstones refuse the upsert: expected, ignore those
        others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != 11000]
        if others:
            raise
        return [str(u["_id"]) for u in exc.details.get("upserted", [])]


async def subscribed_paths(db: Db, batch: int = 5000) -> Any:
    """(openid, org_path or []) of every subscribed follower, streamed (what the roster holds)."""
    cursor = db.followers.find({"subscribed": True}, {"org_path": 1}, batch_size=batch)
    async for doc in cursor:
        yield doc["_id"], list(doc.get("org_path") or ())


async def states(db: Db, openids: list[str]) -> dict[str, list[str] | None]:
    """openid -> org path ([] unbound) of subscribed followers, None for the others (left, unknown)."""
    found: dict[str, list[str] | None] = dict.fromkeys(openids)
    async for doc in db.followers.find({"_id": {"$in": openids}}, {"subscribed": 1, "org_path": 1}):
        if doc.get("subscribed") is not False:
            found[doc["_id"]] = list(doc.get("org_path") or ())
    return found


async def org_paths(db: Db, batch: int = 5000) -> Any:
    """(openid, org_path) of every live follower bound to an org, streamed."""
    cursor = db.followers.find({"org": {"$exists": True}, **LIVE}, {"org_path": 1}, batch_size=batch)
    async for doc in cursor:
        if doc.get("org_path"):
            yield doc["_id"], doc["org_path"]


async def count_event(db: Db, org: str, at: datetime, field: str) -> None:
    """Aggregate per org and day: the only trace a follower leaves once gone."""
    day = at.astimezone(TZ).strftime("%Y-%m-%d")
    await db.follower_stats.update_one(
        {"_id": f"{org}:{day}"}, {"$inc": {field: 1}, "$setOnInsert": {"org": org, "day": day}}, upsert=True
    )


async def stats(db: Db, org: str) -> dict[str, int]:
    totals: dict[str, int] = {"subscribes": 0, "unsubscribes": 0}
    async for doc in db.follower_stats.find({"org": org}):
        for k in totals:
            totals[k] += int(doc.get(k, 0))
    return totals


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, TZ)


async def set_unionids(db: Db, unionids: dict[str, str]) -> int:
    """Record the unionids WeChat gave for these followers (live followers only); returns how many changed."""
    if not unionids:
        return 0
    ops = [UpdateOne({"_id": o, **LIVE}, {"$set": {"unionid": u}}) for o, u in unionids.items()]
    # journaled: the look-up queue forgets these openids once this returns
    result = await durable(db.followers).bulk_write(ops, ordered=False)
    return int(result.modified_count)


async def without_unionid(db: Db, openids: list[str]) -> list[str]:
    """Which of these live followers have no unionid yet (looked up by _id: no scan, no sort)."""
    query = {"_id": {"$in": openids}, "subscribed": True, "unionid": {"$exists": False}}
    return [d["_id"] async for d in db.followers.find(query, {"_id": 1})]


async def by_unionid(db: Db, unionid: str) -> dict[str, Any] | None:
    return await db.followers.find_one({"unionid": unionid}, {"_id": 1, "subscribed": 1, "org_path": 1})


async def subscribed_among(db: Db, openids: list[str]) -> set[str]:
    cursor = db.followers.find({"_id": {"$in": openids}, "subscribed": True}, {"_id": 1})
    return {d["_id"] async for d in cursor}
