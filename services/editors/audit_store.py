"""The audit log (`audit_log`): every change made through the console, and who made it.

    audit_log: {_id: ObjectId string (time-ordered), at, actor (username), actor_name, actor_org,
                action: "poll.create", target_type: "poll", target_id, org (the item's owner org),
                org_path (the item's owner path: who may read the entry), summary (Chinese),
                before: {...} | null, after: {...} | null, ip}

Entries are only ever inserted. An editor reads the entries whose `org_path` contains their org,
the same rule that decides which items they may see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from storage.batching import durable

Db = AsyncDatabase[dict[str, Any]]


async def ensure_indexes(db: Db) -> None:
    await db.audit_log.create_index([("org_path", ASCENDING), ("_id", DESCENDING)])
    await db.audit_log.create_index([("target_type", ASCENDING), ("target_id", ASCENDING), ("_id", DESCENDING)])
    await db.audit_log.create_index([("actor", ASCENDING), ("_id", DESCENDING)])


async def insert(db: Db, doc: dict[str, Any]) -> str:
    doc = {"_id": str(ObjectId()), **doc}
    await durable(db.audit_log).insert_one(doc)
    return str(doc["_id"])


async def get(db: Db, entry_id: str) -> dict[str, Any] | None:
    return await db.audit_log.find_one({"_id": entry_id})


async def page(
    db: Db,
    org: str,
    *,
    actor: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    before_id: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Newest first, keyset-paged by `_id` (`before_id` = the last id of the previous page)."""
    query: dict[str, Any] = {"org_path": org}
    if actor:
        query["actor"] = actor
    if target_type:
        query["target_type"] = target_type
    if target_id:
        query["target_id"] = target_id
    if since:
        query["at"] = {"$gte": since}
    if before_id:
        query["_id"] = {"$lt": before_id}
    cursor = db.audit_log.find(query, {"before": 0, "after": 0}).sort("_id", DESCENDING).limit(limit)
    return await cursor.to_list()


async def count(db: Db, query: dict[str, Any] | None = None) -> int:
    return await db.audit_log.count_documents(query or {})
