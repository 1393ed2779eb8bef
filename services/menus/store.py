"""Custom menus as editors keep them (`menus`): one document per org, a draft and what was published.

    menus: {_id: org code, org_path, draft: [buttons], draft_at, draft_by,
            published: {buttons, at, by, menuid?, tag_id?} | null,
            tag: {id, name} | null,                 # cities: the follower tag their conditional menu matches
            tagging: {status: running|done|failed, owner, beat, after, tagged, failed, started_at, finished_at}}

Buttons are stored in WeChat's own shape ({name, type, key|url|appid+pagepath, sub_button}), so
publishing sends them as they are.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from core.clock import now

Db = AsyncDatabase[dict[str, Any]]
LEASE = timedelta(seconds=60)


async def ensure_indexes(db: Db) -> None:
    await db.menus.create_index([("org_path", ASCENDING)])


async def get(db: Db, org: str) -> dict[str, Any] | None:
    return await db.menus.find_one({"_id": org})


async def set_fields(db: Db, org: str, org_path: list[str], fields: dict[str, Any]) -> dict[str, Any]:
    doc = await db.menus.find_one_and_update(
        {"_id": org}, {"$set": {**fields, "org_path": org_path}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    return doc or {}


async def claim_tagging(db: Db, org: str, owner: str, *, restart: bool) -> dict[str, Any] | None:
    """Take the tagging job of `org` unless a live holder has it (its heartbeat is recent)."""
    at = now()
    free = {"$or": [{"tagging.status": {"$ne": "running"}}, {"tagging.beat": {"$lt": at - LEASE}}]}
    fields: dict[str, Any] = {"tagging.status": "running", "tagging.owner": owner, "tagging.beat": at}
    if restart:
        fields |= {
            "tagging.after": None,
            "tagging.tagged": 0,
            "tagging.failed": 0,
            "tagging.started_at": at,
            "tagging.finished_at": None,
        }
    return await db.menus.find_one_and_update(
        {"_id": org, **free}, {"$set": fields}, return_document=ReturnDocument.AFTER
    )


async def tagging_progress(db: Db, org: str, owner: str, after: str, tagged: int, failed: int) -> bool:
    """Record a batch; False when another holder took the job over (this one must stop)."""
    result = await db.menus.update_one(
        {"_id": org, "tagging.owner": owner},
        {
            "$set": {"tagging.beat": now(), "tagging.after": after},
            "$inc": {"tagging.tagged": tagged, "tagging.failed": failed},
        },
    )
    return result.modified_count == 1


async def tagging_finished(db: Db, org: str, owner: str, status: str, error: str = "") -> None:
    fields: dict[str, Any] = {"tagging.status": status, "tagging.finished_at": now(), "tagging.error": error}
    await db.menus.update_one({"_id": org, "tagging.owner": owner}, {"$set": fields})


async def followers_after(db: Db, org: str, after: str | None, limit: int) -> list[str]:
    """Live followers bound to `org`'s subtree, in openid order (the tagging job's cursor)."""
    query: dict[str, Any] = {"org_path": org, "subscribed": {"$ne": False}}
    if after:
        query["_id"] = {"$gt": after}
    cursor = db.followers.find(query, {"_id": 1}).sort("_id", ASCENDING).limit(limit)
    return [d["_id"] async for d in cursor]


async def add_follower_tag(db: Db, openids: list[str], tag_id: int) -> None:
    """Mirror WeChat's tag on our follower records (push audiences by tag read them)."""
    if openids:
        await db.followers.update_many(
            {"_id": {"$in": openids}, "subscribed": {"$ne": False}}, {"$addToSet": {"tags": tag_id}}
        )


async def remove_follower_tag(db: Db, openids: list[str], tag_id: int) -> None:
    if openids:
        await db.followers.update_many({"_id": {"$in": openids}}, {"$pull": {"tags": tag_id}})


def is_stale(beat: datetime | None) -> bool:
    return beat is None or beat < now() - LEASE
