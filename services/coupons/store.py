"""Coupon batches in MongoDB (`coupon_batches`) and the audited stock moves (`coupon_moves`).

`coupon_batches`: `{_id, org, org_path, title, value_cents, vendor_org, stock, waves: [{opens_at, closes_at,
share}], buckets: [org codes], members: {org: n}, direct, alloc: {"<wave>:<bucket>": n}, status,
expires_at, created_by, created_at}`. `coupon_moves`: `{_id: "<batch>:<wave>", batch, wave, moved, parts,
at}`: leftovers moved to the pool, idempotent under the deterministic id (a replayed stream entry
writes nothing new). The entitlements themselves live in the benefits ledger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from storage.batching import durable

Db = AsyncDatabase[dict[str, Any]]
Doc = dict[str, Any]


async def ensure_indexes(db: Db) -> None:
    await db.coupon_batches.create_index([("org_path", ASCENDING), ("created_at", DESCENDING)])
    await db.coupon_moves.create_index([("batch", ASCENDING), ("wave", ASCENDING)])
    await ensure_reminder_indexes(db)


async def insert_batch(db: Db, doc: Doc) -> None:
    await durable(db.get_collection("coupon_batches")).insert_one(doc)


async def get_batch(db: Db, batch_id: str) -> Doc | None:
    return await db.coupon_batches.find_one({"_id": batch_id})


async def set_status(db: Db, batch_id: str, status: str) -> None:
    coll = durable(db.get_collection("coupon_batches"))
    await coll.update_one({"_id": batch_id}, {"$set": {"status": status}})


async def batches_in(db: Db, org_codes: list[str], before: tuple[datetime, str] | None, limit: int) -> list[Doc]:
    """Batches owned by any of `org_codes` (a worker's org path), newest first, after the cursor."""
    query: Doc = {"org": {"$in": org_codes}}
    if before is not None:
        at, bid = before
        query["$or"] = [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": bid}}]
    cursor = db.coupon_batches.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
    return await cursor.limit(limit).to_list()


async def batches_under(db: Db, org: str, limit: int = 200) -> list[Doc]:
    return await db.coupon_batches.find({"org_path": org}).sort("created_at", DESCENDING).limit(limit).to_list()


async def record_move(db: Db, doc: Doc) -> bool:
    """Store a stock move once; True when it was new."""
    coll = durable(db.get_collection("coupon_moves"))
    result = await coll.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)
    return result.upserted_id is not None


async def moves(db: Db, batch_id: str) -> list[Doc]:
    return await db.coupon_moves.find({"batch": batch_id}).sort("wave", ASCENDING).to_list()


# --- reminders (`coupon_reminders`: {_id: "<batch>:<openid>:<wave>", batch, openid, wave, opens_at,
# remind_at, status: pending|sending|sent|refused|failed, claimed_by, at}) ------------------------------
async def ensure_reminder_indexes(db: Db) -> None:
    await db.coupon_reminders.create_index([("status", ASCENDING), ("remind_at", ASCENDING)])


async def add_reminder(db: Db, doc: Doc) -> bool:
    """Upsert on insert only (a second tap changes nothing); True when it was new."""
    coll = durable(db.get_collection("coupon_reminders"))
    result = await coll.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)
    return result.upserted_id is not None


async def claim_due_reminder(db: Db, at: datetime, stale_before: datetime, owner: str) -> Doc | None:
    """One due reminder, moved pending -> sending (or taken over from a claim that died long ago)."""
    query = {"$or": [{"status": "pending", "remind_at": {"$lte": at}},
                     {"status": "sending", "claimed_at": {"$lt": stale_before}}]}  # fmt: skip
    update = {"$set": {"status": "sending", "claimed_by": owner, "claimed_at": at}}
    coll = durable(db.get_collection("coupon_reminders"))
    return await coll.find_one_and_update(query, update, sort=[("remind_at", ASCENDING)])


async def finish_reminder(db: Db, reminder_id: str, status: str, at: datetime) -> None:
    coll = durable(db.get_collection("coupon_reminders"))
    await coll.update_one({"_id": reminder_id, "status": "sending"}, {"$set": {"status": status, "at": at}})
