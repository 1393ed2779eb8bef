"""The MongoDB side of 职工书屋: collections, indexes, and the guarded updates that decide every copy.

- `library_rooms`: 书屋 `{_id, org, org_path, city, name, address, hours}`.
- `library_titles`: `{_id: ISBN-13, title, author, publisher}`.
- `library_copies`: one per physical book, `_id` = `<isbn>-<room>-<n>`; `status` on_shelf | held | lent;
  a held copy names its `holder` and `hold_until`, a lent one its `borrower`, `due_at`, `renewals`.
  Every change of status is ONE find_one_and_update guarded by the status it expects.
- `library_holds`: a worker's active hold on a title, `_id` = `<isbn>:<openid>` (so one per title and
  person by construction); `status` held (a copy is kept for them) | waiting (in the title's queue, by `seq`).
- `library_patrons`: per worker, the counts of active holds and loans (guarded $inc: the limits).
- `library_moves`: transfers (漂流) and returns at another room, for the record.
- `library_reading` / `library_reading_days`: e-book positions; minutes per worker and day.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from storage.batching import durable
from storage.indexes import ensure_index
from storage.reads import for_reports

Db = Any


def c(db: Db, name: str) -> Any:
    """A library collection that writes journaled (majority on a replica set): storage.batching.durable."""
    return durable(db.get_collection(f"library_{name}"))


async def ensure_indexes(db: Db) -> None:
    await ensure_index(db.library_rooms, [("org_path", ASCENDING)])
    await ensure_index(db.library_titles, [("title", ASCENDING)])
    await ensure_index(db.library_copies, [("isbn", ASCENDING), ("status", ASCENDING)])
    await ensure_index(db.library_copies, [("room", ASCENDING), ("status", ASCENDING)])
    await ensure_index(db.library_copies, [("status", ASCENDING), ("hold_until", ASCENDING)])
    await ensure_index(db.library_copies, [("status", ASCENDING), ("due_at", ASCENDING)])
    await ensure_index(db.library_holds, [("isbn", ASCENDING), ("status", ASCENDING), ("seq", ASCENDING)])
    await ensure_index(db.library_holds, [("openid", ASCENDING)])
    await ensure_index(db.library_reading_days, [("org_path", ASCENDING), ("day", ASCENDING)])


# rooms and titles


async def insert_room(db: Db, doc: dict[str, Any]) -> None:
    await c(db, "rooms").insert_one(doc)


async def room(db: Db, room_id: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await db.library_rooms.find_one({"_id": room_id})
    return doc


async def rooms_in(db: Db, query: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await db.library_rooms.find(query).sort("_id", 1).to_list()
    return found


async def upsert_title(db: Db, isbn: str, fields: dict[str, Any]) -> None:
    await c(db, "titles").update_one({"_id": isbn}, {"$set": fields}, upsert=True)


async def titles(db: Db, query: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await db.library_titles.find(query).sort("_id", 1).limit(limit).to_list()
    return found


async def ensure_copies(db: Db, docs: list[dict[str, Any]]) -> int:
    """Insert the copies not there yet (a re-imported sheet adds nothing); returns how many were new."""
    new = 0
    for doc in docs:
        with contextlib.suppress(DuplicateKeyError):
            await c(db, "copies").insert_one(doc)
            new += 1
    return new


# copies: every status change is one guarded update


async def take_copy(db: Db, query: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any] | None:
    """The copy matching `query` (status included) after `changes`, or None when none matched."""
    doc: dict[str, Any] | None = await c(db, "copies").find_one_and_update(
        query, {"$set": changes}, return_document=ReturnDocument.AFTER
    )
    return doc


async def change_copy(db: Db, query: dict[str, Any], update: dict[str, Any]) -> dict[str, Any] | None:
    """Like take_copy with a full update document; returns the copy BEFORE the change."""
    doc: dict[str, Any] | None = await c(db, "copies").find_one_and_update(query, update)
    return doc


async def copy(db: Db, copy_id: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await db.library_copies.find_one({"_id": copy_id})
    return doc


async def copies(db: Db, query: dict[str, Any], limit: int = 1000) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await db.library_copies.find(query).limit(limit).to_list()
    return found


async def copy_counts(db: Db, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Per title and room: copies in total and on the shelf."""
    pipeline = [
        {"$match": query},
        {"$group": {"_id": {"isbn": "$isbn", "room": "$room"}, "total": {"$sum": 1},
                    "on_shelf": {"$sum": {"$cond": [{"$eq": ["$status", "on_shelf"]}, 1, 0]}}}},
    ]  # fmt: skip
    return [r async for r in await db.library_copies.aggregate(pipeline)]


# holds


async def insert_hold(db: Db, doc: dict[str, Any]) -> bool:
    try:
        await c(db, "holds").insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def update_hold(db: Db, query: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await c(db, "holds").find_one_and_update(
        query, {"$set": changes}, return_document=ReturnDocument.AFTER
    )
    return doc


async def delete_hold(db: Db, query: dict[str, Any]) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await c(db, "holds").find_one_and_delete(query)
    return doc


async def holds(db: Db, query: dict[str, Any], limit: int = 1000) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await db.library_holds.find(query).sort("seq", 1).limit(limit).to_list()
    return found


# patrons: the per-worker limits


async def patron_take(db: Db, openid: str, field: str, limit: int) -> bool:
    """Count one more active hold or loan, only while under `limit` (one guarded update)."""
    try:
        res = await c(db, "patrons").update_one(
            {"_id": openid, field: {"$not": {"$gte": limit}}}, {"$inc": {field: 1}}, upsert=True
        )
    except DuplicateKeyError:
        return False  # the document exists and is at the limit: the upsert's insert collided
    return bool(res.modified_count or res.upserted_id)


async def patron_release(db: Db, openid: str, field: str) -> None:
    await c(db, "patrons").update_one({"_id": openid, field: {"$gt": 0}}, {"$inc": {field: -1}})


# moves, reading


async def log_move(db: Db, doc: dict[str, Any]) -> None:
    await c(db, "moves").insert_one(doc)


async def set_position(db: Db, key: str, fields: dict[str, Any], pos: int, rewind: bool) -> dict[str, Any]:
    """Forward only ($max on the combined position) unless `rewind` (an explicit 回到此处)."""
    update: dict[str, Any] = {"$set": {**fields, "pos": pos}} if rewind else {"$set": fields, "$max": {"pos": pos}}
    doc: dict[str, Any] = await c(db, "reading").find_one_and_update(
        {"_id": key}, update, upsert=True, return_document=ReturnDocument.AFTER
    )
    return doc


async def record_minutes(db: Db, key: str, fields: dict[str, Any], total: int) -> None:
    """The day's total as Redis decided it; $max so a late or replayed write never lowers it."""
    await c(db, "reading_days").update_one({"_id": key}, {"$set": fields, "$max": {"minutes": total}}, upsert=True)


async def reading_by(db: Db, org: str, group_field: str, since_day: str) -> list[dict[str, Any]]:
    pipeline = [
        {"$match": {"org_path": org, "day": {"$gte": since_day}}},
        {"$group": {"_id": f"${group_field}", "minutes": {"$sum": "$minutes"}, "readers": {"$addToSet": "$openid"}}},
    ]
    # A ranking: a secondary may serve it (storage/reads).
    rows = [r async for r in await for_reports(db.library_reading_days).aggregate(pipeline)]
    return sorted(
        ({"org": r["_id"], "minutes": r["minutes"], "readers": len(r["readers"])} for r in rows),
        key=lambda r: (-r["minutes"], str(r["org"])),
    )
