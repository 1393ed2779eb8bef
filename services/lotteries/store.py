"""The MongoDB side of lotteries: `lotteries` (one document per lottery) and `lottery_entries`.

`lotteries`: {_id, org, org_path, title, description, mode: draw|instant, state, created_*, ...mode fields}.
Draw mode keeps `server_seed` here until the draw; it leaves this module only for the draw itself
and, once drawn, in the publication. `lottery_entries`: {_id: "<lottery>:<member>", lottery_id,
member_id, code, org, org_path, openid, entered_at} — one per roster member (the _id), codes unique
per lottery (index), written journaled before the worker is told their 抽签码.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from storage.batching import durable

Db = AsyncDatabase[dict[str, Any]]
Doc = dict[str, Any]
PUBLIC_HIDDEN = {"server_seed": 0}


def _entries(db: Db) -> AsyncCollection[Doc]:
    return durable(db.get_collection("lottery_entries"))


def _lotteries(db: Db) -> AsyncCollection[Doc]:
    return durable(db.get_collection("lotteries"))


async def ensure_indexes(db: Db) -> None:
    await db.lotteries.create_index([("org_path", ASCENDING), ("created_at", DESCENDING)])
    await db.lotteries.create_index([("state", ASCENDING), ("publicity_until", ASCENDING)])
    await db.lottery_entries.create_index([("lottery_id", ASCENDING), ("code", ASCENDING)], unique=True)
    await db.lottery_entries.create_index([("member_id", ASCENDING), ("entered_at", DESCENDING)])
    await ensure_play_indexes(db)


async def insert(db: Db, doc: Doc) -> None:
    await _lotteries(db).insert_one(doc)


async def get(db: Db, lottery_id: str, *, with_secret: bool = False) -> Doc | None:
    return await db.lotteries.find_one({"_id": lottery_id}, None if with_secret else PUBLIC_HIDDEN)


async def transition(db: Db, lottery_id: str, from_state: str, to_state: str, changes: Doc) -> Doc | None:
    """One guarded step of the state machine: applies `changes` only while the state is `from_state`."""
    return await _lotteries(db).find_one_and_update(
        {"_id": lottery_id, "state": from_state},
        {"$set": {**changes, "state": to_state}},
        projection=PUBLIC_HIDDEN,
        return_document=ReturnDocument.AFTER,
    )


async def update_guarded(db: Db, query: Doc, update: Doc) -> Doc | None:
    return await _lotteries(db).find_one_and_update(
        query, update, projection=PUBLIC_HIDDEN, return_document=ReturnDocument.AFTER
    )


async def page(db: Db, query: Doc, *, before: datetime | None, limit: int) -> list[Doc]:
    q = dict(query)
    if before is not None:
        q["created_at"] = {"$lt": before}
    cursor = db.lotteries.find(q, PUBLIC_HIDDEN).sort("created_at", DESCENDING).limit(limit)
    return [d async for d in cursor]


async def due_for_final(db: Db, at: datetime) -> list[str]:
    query = {"$or": [{"state": "publicized", "publicity_until": {"$lte": at}}, {"state": "finalizing"}]}
    cursor = db.lotteries.find(query, {"_id": 1})
    return [d["_id"] async for d in cursor]


# --- entries ---


async def save_entry(db: Db, entry: Doc) -> Doc:
    """Insert once (journaled); the stored entry wins over a retry's (two racing upserts: one inserts)."""
    for _ in range(3):
        try:
            stored = await _entries(db).find_one_and_update(
                {"_id": entry["_id"]}, {"$setOnInsert": entry}, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            stored = None
        if stored is None:
            stored = await db.lottery_entries.find_one({"_id": entry["_id"]})
        if stored is not None:
            return stored
    raise RuntimeError(f"entry {entry['_id']} could not be stored")


async def save_entries(db: Db, entries: list[Doc]) -> int:
    if not entries:
        return 0
    ops = [UpdateOne({"_id": e["_id"]}, {"$setOnInsert": e}, upsert=True) for e in entries]
    result = await _entries(db).bulk_write(ops, ordered=False)
    return result.upserted_count


async def entry_of(db: Db, lottery_id: str, member_id: str) -> Doc | None:
    return await db.lottery_entries.find_one({"_id": f"{lottery_id}:{member_id}"})


async def entry_by_code(db: Db, lottery_id: str, code: str) -> Doc | None:
    return await db.lottery_entries.find_one({"lottery_id": lottery_id, "code": code})


async def entries_by_codes(db: Db, lottery_id: str, codes: list[str]) -> list[Doc]:
    return [d async for d in db.lottery_entries.find({"lottery_id": lottery_id, "code": {"$in": codes}})]


async def member_codes(db: Db, lottery_id: str) -> AsyncIterator[tuple[str, str]]:
    async for d in db.lottery_entries.find({"lottery_id": lottery_id}, {"member_id": 1, "code": 1}):
        yield d["member_id"], d["code"]


async def sorted_codes(db: Db, lottery_id: str) -> list[str]:
    cursor = db.lottery_entries.find({"lottery_id": lottery_id}, {"code": 1, "_id": 0}).sort("code", ASCENDING)
    return [d["code"] async for d in cursor.batch_size(10_000)]


async def count_entries(db: Db, lottery_id: str) -> int:
    return await db.lottery_entries.count_documents({"lottery_id": lottery_id})


async def entries_page(db: Db, lottery_id: str, after_code: str, limit: int) -> list[Doc]:
    q: Doc = {"lottery_id": lottery_id}
    if after_code:
        q["code"] = {"$gt": after_code}
    return [d async for d in db.lottery_entries.find(q).sort("code", ASCENDING).limit(limit)]


# --- instant-win plays (written behind from the Redis stream; the record Redis is rebuilt from) ---


async def ensure_play_indexes(db: Db) -> None:
    await db.lottery_plays.create_index([("lottery_id", ASCENDING), ("outcome", ASCENDING)])


async def save_plays(db: Db, plays: list[Doc]) -> None:
    if plays:
        ops = [UpdateOne({"_id": p["_id"]}, {"$setOnInsert": p}, upsert=True) for p in plays]
        await durable(db.get_collection("lottery_plays")).bulk_write(ops, ordered=False)


async def plays_of(db: Db, lottery_id: str) -> AsyncIterator[Doc]:
    async for d in db.lottery_plays.find({"lottery_id": lottery_id}, {"key": 1, "outcome": 1}):
        yield d


async def play_of(db: Db, lottery_id: str, key: str) -> Doc | None:
    return await db.lottery_plays.find_one({"_id": f"{lottery_id}:{key}"})
