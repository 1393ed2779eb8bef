"""Ballots: accepted in Redis (partitioned streams), stored in MongoDB (`ballots`) in idempotent batches.

The stream is cut into `storage.keys.SHARDS` partitions, `mp:ballots:{poll.N}`: a poll's keys carry its
partition's tag (services.polls.live), so the ballot script counts and queues in one cluster slot. The
flusher reads each partition on its own. `mp:ballots` (one stream, before the partitions) is still read
until it is empty, so ballots accepted by an older release are stored too.

A ballot's `_id` is deterministic (`poll:openid:day:seq`, from the Lua script that accepted it), so
writing a batch twice (a crash between the MongoDB write and the stream trim, two flushers racing)
stores it once: duplicates are refused by the `_id` index and ignored.
"""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from core.clock import from_timestamp
from storage.batching import durable, insert_new
from storage.keys import all_shard_tags, entity_shard_tag

Db = AsyncDatabase[dict[str, Any]]
SPACE = "poll"
OLD_STREAM = "mp:ballots"


def stream(tag: str) -> str:
    """The partition stream of a shard tag (`{poll.N}`)."""
    return f"mp:ballots:{tag}"


def stream_of(poll_id: str) -> str:
    return stream(entity_shard_tag(SPACE, poll_id))


# Every stream a flusher reads: the partitions, then the pre-partition stream until it is gone.
STREAMS = [stream(tag) for tag in all_shard_tags(SPACE)] + [OLD_STREAM]


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


async def read_pending(redis: aioredis.Redis, key: str, count: int) -> Entries:
    """The oldest ballots of one stream not yet stored (the stream only holds those)."""
    return cast(Entries, await redis.xrange(key, "-", "+", count=count))


async def lengths(redis: aioredis.Redis, keys: list[str]) -> dict[str, int]:
    """Entries waiting per stream, in one round trip (a non-transactional pipeline may mix slots)."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.xlen(key)
        counts = await pipe.execute()
    return {key: int(n) for key, n in zip(keys, counts, strict=True)}


async def store(db: Db, docs: list[dict[str, Any]]) -> int:
    """Insert the batch; ballots already stored are skipped. Returns how many were new."""
    return (await insert_new(durable(db.ballots), docs)).count


async def trim(redis: aioredis.Redis, key: str, entry_ids: list[str]) -> None:
    if entry_ids:
        await redis.xdel(key, *entry_ids)


async def pending_count(redis: aioredis.Redis) -> int:
    return sum((await lengths(redis, STREAMS)).values())


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
