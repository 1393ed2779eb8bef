"""Ballots: accepted in Redis (a stream, `mp:ballots`), stored in MongoDB (`ballots`) in idempotent batches.

A ballot's `_id` is deterministic (`poll:openid:day:seq`, from the Lua script that accepted it), so
writing a batch twice (a crash between the MongoDB write and the stream trim, two flushers racing)
stores it once: duplicates are refused by the `_id` index and ignored.
"""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from core.clock import from_timestamp
from storage.batching import durable

Db = AsyncDatabase[dict[str, Any]]
STREAM = "mp:ballots"
DUPLICATE_KEY = 11000


async def ensure_indexes(db: Db) -> None:
    # One secondary index serves every query here (a poll's counts, a user's ballots in a poll). Each
    # index is paid on every insert at peak: the embedded MongoDB-wire server spends ~80 µs per ballot
    # on the document, ~95 µs on this index and spent ~50 µs more on an (openid, at) index no query used.
    await db.ballots.create_index([("poll", ASCENDING), ("openid", ASCENDING), ("at", DESCENDING)])


# A stream entry is one field `b`: id, poll, openid, day, seq, options (comma-joined), at (ms), ip, joined by
# tabs (none of them can hold a tab: ids are generated, options were checked against the poll). One field
# instead of eight makes reading a batch of thousands several times cheaper for the flusher.
def to_doc(fields: dict[str, str]) -> dict[str, Any]:
    ballot_id, poll, openid, day, seq, opts, at, ip = fields["b"].split("\t")
    return {
        "_id": ballot_id,
        "poll": poll,
        "openid": openid,
        "day": day,
        "seq": int(seq),
        "options": opts.split(","),
        "at": from_timestamp(int(at) / 1000),
        "ip": ip,
    }


Entries = list[tuple[str, dict[str, str]]]


async def read_pending(redis: aioredis.Redis, count: int, block_ms: int | None) -> Entries:
    """The oldest ballots not yet stored (the stream only holds those), waiting up to block_ms for some."""
    if block_ms is None:
        return cast(Entries, await redis.xrange(STREAM, "-", "+", count=count))
    answer: Any = await redis.xread({STREAM: "0-0"}, count=count, block=block_ms)
    return cast(Entries, list(answer[0][1])) if answer else []


async def store(db: Db, docs: list[dict[str, Any]]) -> int:
    """Insert the batch; ballots already stored are skipped. Returns how many were new."""
    if not docs:
        return 0
    try:
        result = await durable(db.ballots).insert_many(docs, ordered=False)
        return len(result.inserted_ids)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return int(exc.details.get("nInserted", 0))


async def trim(redis: aioredis.Redis, entry_ids: list[str]) -> None:
    if entry_ids:
        await redis.xdel(STREAM, *entry_ids)


async def pending_count(redis: aioredis.Redis) -> int:
    return int(await redis.xlen(STREAM))


async def option_counts(db: Db, poll_id: str) -> dict[str, int]:
    pipeline: list[dict[str, Any]] = [
        {"$match": {"poll": poll_id}},
        {"$unwind": "$options"},
        {"$group": {"_id": "$options", "n": {"$sum": 1}}},
    ]
    return {d["_id"]: int(d["n"]) async for d in await db.ballots.aggregate(pipeline)}


async def per_user(db: Db, poll_id: str, day: str | None = None) -> dict[str, tuple[int, int]]:
    """openid -> (ballots, highest seq), over the poll or one day of it."""
    match: dict[str, Any] = {"poll": poll_id}
    if day is not None:
        match["day"] = day
    pipeline = [{"$match": match}, {"$group": {"_id": "$openid", "n": {"$sum": 1}, "seq": {"$max": "$seq"}}}]
    return {d["_id"]: (int(d["n"]), int(d["seq"])) async for d in await db.ballots.aggregate(pipeline)}


async def count(db: Db, poll_id: str) -> int:
    return await db.ballots.count_documents({"poll": poll_id})


async def mine(db: Db, poll_id: str, openid: str, limit: int = 100) -> list[dict[str, Any]]:
    cursor = db.ballots.find({"poll": poll_id, "openid": openid}).sort("at", DESCENDING).limit(limit)
    return await cursor.to_list()
