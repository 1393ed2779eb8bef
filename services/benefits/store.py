"""The MongoDB side of the ledger: the `entitlements` collection (the only module that knows it).

One document per (source, member): `_id` = f"{source}:{member_id}", so a grant is idempotent by
construction. Every write is journaled (j=True): a grant answered to a worker survives a crash.
State changes are guarded updates (`status` in the filter), so concurrent redemptions or revocations
of one entitlement change it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from storage.batching import DUPLICATE_KEY, durable
from storage.reads import for_reports

Db = AsyncDatabase[dict[str, Any]]
Doc = dict[str, Any]


def _coll(db: Db) -> AsyncCollection[Doc]:
    return durable(db.get_collection("entitlements"))


async def ensure_indexes(db: Db) -> None:
    coll = db.entitlements
    await coll.create_index([("member_id", ASCENDING), ("granted_at", DESCENDING)])
    await coll.create_index([("source", ASCENDING), ("status", ASCENDING)])
    await coll.create_index([("org_path", ASCENDING)])
    await coll.create_index([("vendor_id", ASCENDING), ("redeemed_at", ASCENDING)])
    await ensure_vendor_indexes(db)


async def insert_once(db: Db, doc: Doc) -> tuple[Doc, bool]:
    """Insert under the unique _id; (stored, False) when a document with that _id already exists."""
    try:
        await _coll(db).insert_one(doc)
        return doc, True
    except DuplicateKeyError:
        existing = await db.entitlements.find_one({"_id": doc["_id"]})
        if existing is None:  # cannot happen: documents are never deleted
            raise
        return existing, False


async def insert_many_once(db: Db, docs: Sequence[Doc]) -> int:
    """Upsert each document on insert only (ordered=False); returns how many were new."""
    if not docs:
        return 0
    ops = [UpdateOne({"_id": d["_id"]}, {"$setOnInsert": d}, upsert=True) for d in docs]
    try:
        result = await _coll(db).bulk_write(ops, ordered=False)
        return int(result.upserted_count)
    except BulkWriteError as exc:
        # Two writers upserting one _id at the same moment: the loser gets a duplicate key error,
        # which means "already stored" here.
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return int(exc.details.get("nUpserted", 0))


async def find(db: Db, entitlement_id: str) -> Doc | None:
    return await db.entitlements.find_one({"_id": entitlement_id})


async def change_status(
    db: Db, entitlement_id: str, *, from_: Sequence[str], to: str, extra: Doc | None = None, where: Doc | None = None
) -> Doc | None:
    """One guarded update: moves the document only from one of `from_`; the new document, or None."""
    query: Doc = {"_id": entitlement_id, "status": {"$in": list(from_)}}
    if where:
        query.update(where)
    return await _coll(db).find_one_and_update(
        query, {"$set": {"status": to, **(extra or {})}}, return_document=ReturnDocument.AFTER
    )


async def expire_due(db: Db, at: datetime) -> int:
    """granted -> expired for everything past its date (one guarded update_many; reruns change nothing)."""
    result = await _coll(db).update_many(
        {"status": "granted", "expires_at": {"$lte": at}}, {"$set": {"status": "expired", "expired_at": at}}
    )
    return int(result.modified_count)


async def annotate(db: Db, entitlement_id: str, fields: Doc) -> None:
    """Set descriptive fields (risk verdict, note) without touching the status."""
    await _coll(db).update_one({"_id": entitlement_id}, {"$set": fields})


async def of_member(db: Db, member_id: str, limit: int = 100) -> list[Doc]:
    cursor = db.entitlements.find({"member_id": member_id}).sort("granted_at", DESCENDING).limit(limit)
    return await cursor.to_list()


async def of_source(db: Db, source: str, status: str | None = None, limit: int = 1000) -> list[Doc]:
    query: Doc = {"source": source}
    if status is not None:
        query["status"] = status
    return await db.entitlements.find(query).sort("granted_at", ASCENDING).limit(limit).to_list()


async def count_source(db: Db, source: str) -> int:
    return await db.entitlements.count_documents({"source": source})


async def redeemed_by_vendor(db: Db, vendor_id: str, start: datetime, end: datetime) -> list[Doc]:
    query = {"vendor_id": vendor_id, "redeemed_at": {"$gte": start, "$lt": end}}
    # A closed month's statement: a secondary may serve it (storage/reads).
    return await for_reports(db.entitlements).find(query).sort("redeemed_at", ASCENDING).to_list()


# --- vendors (`vendors`: {_id, name, address, org, org_path, disabled, created_by, created_at}) -------
async def ensure_vendor_indexes(db: Db) -> None:
    await db.vendors.create_index([("org_path", ASCENDING)])


async def insert_vendor(db: Db, doc: Doc) -> None:
    await durable(db.get_collection("vendors")).insert_one(doc)


async def find_vendor(db: Db, vendor_id: str) -> Doc | None:
    return await db.vendors.find_one({"_id": vendor_id})


async def vendors_under(db: Db, org: str) -> list[Doc]:
    return await db.vendors.find({"org_path": org}).sort("created_at", ASCENDING).to_list()


async def page_of_member(db: Db, member_id: str, before: tuple[datetime, str] | None, limit: int) -> list[Doc]:
    """A member's entitlements, newest first, strictly after the cursor (granted_at, _id) when given."""
    query: Doc = {"member_id": member_id}
    if before is not None:
        at, eid = before
        query["$or"] = [{"granted_at": {"$lt": at}}, {"granted_at": at, "_id": {"$lt": eid}}]
    cursor = db.entitlements.find(query).sort([("granted_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
    return await cursor.to_list()
