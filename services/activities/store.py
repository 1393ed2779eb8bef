"""Activities (报名活动) in MongoDB: `activities` documents, sessions embedded.

`{_id: "ac<hex>", org, org_path, title, description, place, members_only, status: draft|published|cancelled,
signup_opens_at, signup_deadline, cancel_deadline, per_user_limit, waitlist: {enabled, limit},
form: [questions], sessions: [{id, title, starts_at, ends_at, place, capacity}],
remind_minutes_before, checkin_minutes_before, created_at, updated_at, created_by, rev (updates so far)}`.
Sign-ups live in `signups` (services.activities.signups_store) and, while live, in Redis (services.activities.live).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from storage.batching import durable

Db = AsyncDatabase[dict[str, Any]]


async def ensure_indexes(db: Db) -> None:
    await db.activities.create_index([("status", ASCENDING), ("org", ASCENDING), ("first_starts_at", DESCENDING)])
    await db.activities.create_index([("org_path", ASCENDING), ("created_at", DESCENDING)])


async def insert(db: Db, doc: dict[str, Any]) -> None:
    await durable(db.activities).insert_one(doc)


async def get(db: Db, activity_id: str) -> dict[str, Any] | None:
    return await db.activities.find_one({"_id": activity_id})


async def update(
    db: Db, activity_id: str, changes: dict[str, Any], *, expect_status: list[str]
) -> dict[str, Any] | None:
    """Apply `changes` only while the status is one of `expect_status` (an edit racing a cancel loses).
    Every update moves `rev`, the order in which the activity's gate in Redis accepts copies of it."""
    return await durable(db.activities).find_one_and_update(
        {"_id": activity_id, "status": {"$in": expect_status}},
        {"$set": changes, "$inc": {"rev": 1}},
        return_document=ReturnDocument.AFTER,
    )


async def delete_draft(db: Db, activity_id: str) -> bool:
    return (await durable(db.activities).delete_one({"_id": activity_id, "status": "draft"})).deleted_count == 1


async def list_published(
    db: Db, visible: dict[str, Any], *, limit: int, before: datetime | None
) -> list[dict[str, Any]]:
    """Published activities matching the `visible` fragment, latest first session first."""
    query: dict[str, Any] = {"status": "published", **visible}
    if before is not None:
        query["first_starts_at"] = {"$lt": before}
    cursor = db.activities.find(query, {"form": 0}).sort([("first_starts_at", DESCENDING), ("_id", DESCENDING)])
    return await cursor.limit(limit).to_list()


async def list_managed(db: Db, managed: dict[str, Any], limit: int = 200) -> list[dict[str, Any]]:
    return await db.activities.find(managed, {"form": 0}).sort("created_at", DESCENDING).limit(limit).to_list()


async def get_many(db: Db, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    return {d["_id"]: d async for d in db.activities.find({"_id": {"$in": ids}}, {"form": 0})}
