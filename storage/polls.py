"""Polls (`polls`) in MongoDB: what editors wrote. Live counts are in Redis (services.polls.live).

`{_id, org, org_path, title, description, cover_url, options: [{id, title, description, image_url}],
multiple, max_choices, limit: {per: "day"|"poll", count}, opens_at, closes_at, members_only,
anti_brush: {user_per_minute, ip_per_minute}, status: "draft"|"published"|"closed", created_by,
created_at, updated_at}`.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from core.clock import now

Db = AsyncDatabase[dict[str, Any]]

LIST_FIELDS = {"options": 0}


async def ensure_indexes(db: Db) -> None:
    await db.polls.create_index([("org", ASCENDING), ("status", ASCENDING), ("opens_at", DESCENDING)])
    await db.polls.create_index([("org_path", ASCENDING), ("created_at", DESCENDING)])


def new_id() -> str:
    return secrets.token_hex(6)


async def insert(db: Db, doc: dict[str, Any]) -> dict[str, Any]:
    at = now()
    doc = {**doc, "_id": doc.get("_id") or new_id(), "created_at": at, "updated_at": at}
    await db.polls.insert_one(doc)
    return doc


async def get(db: Db, poll_id: str) -> dict[str, Any] | None:
    return await db.polls.find_one({"_id": poll_id})


async def update(
    db: Db, poll_id: str, fields: dict[str, Any], guard: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Set `fields` when the poll still matches `guard`; returns the new document or None."""
    return await db.polls.find_one_and_update(
        {"_id": poll_id, **(guard or {})},
        {"$set": {**fields, "updated_at": now()}},
        return_document=ReturnDocument.AFTER,
    )


async def list_visible(
    db: Db,
    visible: dict[str, Any],
    *,
    limit: int,
    before: tuple[datetime, str] | None = None,
    at: datetime | None = None,
    state: str = "all",
) -> list[dict[str, Any]]:
    """Published or closed polls matching the visibility filter, newest opening first (keyset paging)."""
    query: dict[str, Any] = {**visible, "status": {"$in": ["published", "closed"]}}
    t = at or now()
    if state == "open":
        query["status"] = "published"
        query["opens_at"] = {"$lte": t}
        query["closes_at"] = {"$gt": t}
    elif state == "ended":
        query["$or"] = [{"status": "closed"}, {"closes_at": {"$lte": t}}]
    if before is not None:
        opens, pid = before
        query.setdefault("$and", []).append(
            {"$or": [{"opens_at": {"$lt": opens}}, {"opens_at": opens, "_id": {"$lt": pid}}]}
        )
    cursor = db.polls.find(query, LIST_FIELDS).sort([("opens_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
    return await cursor.to_list()


async def list_for_editor(db: Db, editor_org: str, limit: int = 200) -> list[dict[str, Any]]:
    cursor = db.polls.find({"org_path": editor_org}, LIST_FIELDS).sort("created_at", DESCENDING).limit(limit)
    return await cursor.to_list()


async def live_polls(db: Db, at: datetime) -> list[dict[str, Any]]:
    """Published polls not yet over: their Redis state is rebuilt at start-up if missing."""
    return await db.polls.find({"status": "published", "closes_at": {"$gt": at}}).to_list()
