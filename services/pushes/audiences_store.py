"""Read-only queries a push audience needs on `followers`, `members` and `mini_users`.

Streams are sorted by `_id` and restart after a given `_id`, so an audience snapshot that was cut
short (a crash) continues exactly where its last chunk ended. Only `_id` (and, for the 48-hour
window, `last_interaction_at`) is projected: a million followers never travel in full.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.pushes.deliveries_store import LOOKUP_BATCH

Db = AsyncDatabase[dict[str, Any]]
STREAM_BATCH = 2000


async def ensure_indexes(db: Db) -> None:
    """What cutting an audience in `_id` ranges needs: the equality fields of the audience's query,
    then `_id`, so a range (`_id` > a and <= b) is one index walk of exactly its own keys."""
    await db.followers.create_index([("subscribed", ASCENDING), ("_id", ASCENDING)])
    await db.followers.create_index([("org_path", ASCENDING), ("subscribed", ASCENDING), ("_id", ASCENDING)])


def _in_range(query: dict[str, Any], after: Any, upto: Any) -> dict[str, Any]:
    full: dict[str, Any] = {**query, "subscribed": True}
    bounds = ({"$gt": after} if after is not None else {}) | ({"$lte": upto} if upto is not None else {})
    if bounds:
        full["_id"] = bounds
    return full


async def followers_stored(db: Db) -> int:
    """Every follower document, subscribed or not (collection metadata: no scan on MongoDB)."""
    return await db.followers.estimated_document_count()


async def follower_key_stats(db: Db) -> tuple[int, str, str] | None:
    """(followers stored, lowest and highest subscribed `_id`): what planning an audience's ranges
    needs. Three index/metadata reads on MongoDB; the embedded server scans for each, so the
    service keeps the answer in Redis and refreshes it in the background (services/pushes/keyspace.py)."""
    bounds = await follower_id_bounds(db, {})
    if bounds is None:
        return None
    return await followers_stored(db), bounds[0], bounds[1]


async def follower_id_bounds(db: Db, query: dict[str, Any]) -> tuple[str, str] | None:
    """The lowest and highest `_id` of the audience (two one-key index walks), None when empty."""
    full = _in_range(query, None, None)
    low = await db.followers.find(full, {"_id": 1}).sort("_id", ASCENDING).limit(1).to_list()
    high = await db.followers.find(full, {"_id": 1}).sort("_id", -1).limit(1).to_list()
    if not low or not high:
        return None
    return str(low[0]["_id"]), str(high[0]["_id"])


async def stream_followers(
    db: Db, query: dict[str, Any], after: str | None, *, upto: str | None = None, with_interaction: bool = False
) -> AsyncIterator[tuple[str, datetime | None]]:
    """(openid, last_interaction_at) of subscribed followers matching `query` with `after` < `_id`
    <= `upto` (None: unbounded), in `_id` order."""
    full = _in_range(query, after, upto)
    fields = {"_id": 1, "last_interaction_at": 1} if with_interaction else {"_id": 1}
    cursor = db.followers.find(full, fields, batch_size=STREAM_BATCH).sort("_id", ASCENDING)
    async for doc in cursor:
        yield doc["_id"], doc.get("last_interaction_at")


async def followers_by_id(db: Db, openids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Follower facts a push checks (subscribed, org_path, last interaction) for a batch of openids."""
    fields = {"subscribed": 1, "org_path": 1, "last_interaction_at": 1}
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(openids), LOOKUP_BATCH):
        async for doc in db.followers.find({"_id": {"$in": list(openids[i : i + LOOKUP_BATCH])}}, fields):
            found[doc["_id"]] = doc
    return found


async def stream_members(db: Db, query: dict[str, Any], after: str | None) -> AsyncIterator[str]:
    """Member numbers matching `query`, in `_id` order."""
    full = dict(query)
    if after is not None:
        full["_id"] = {"$gt": after}
    async for doc in db.members.find(full, {"_id": 1}, batch_size=STREAM_BATCH).sort("_id", ASCENDING):
        yield doc["_id"]


async def members_in_orgs(db: Db, member_nos: Sequence[str], orgs: Sequence[str]) -> list[str]:
    """The members of this list that belong to one of `orgs` (subtrees)."""
    out: list[str] = []
    for i in range(0, len(member_nos), LOOKUP_BATCH):
        async for doc in db.members.find({"_id": {"$in": list(member_nos[i : i + LOOKUP_BATCH])}}, {"org_path": 1}):
            if any(o in (doc.get("org_path") or ()) for o in orgs):
                out.append(doc["_id"])
    return out


async def follower_openids_of_members(db: Db, member_nos: Sequence[str]) -> list[str]:
    """Official-account openids linked to these members (via their mini-program user)."""
    openids: list[str] = []
    unionids: list[str] = []
    fields = {"follower_openid": 1, "unionid": 1}
    for i in range(0, len(member_nos), LOOKUP_BATCH):
        query = {"member_id": {"$in": list(member_nos[i : i + LOOKUP_BATCH])}}
        async for doc in db.mini_users.find(query, fields):
            if doc.get("follower_openid"):
                openids.append(doc["follower_openid"])
            elif doc.get("unionid"):
                unionids.append(doc["unionid"])
    for i in range(0, len(unionids), LOOKUP_BATCH):
        async for doc in db.followers.find({"unionid": {"$in": unionids[i : i + LOOKUP_BATCH]}}, {"_id": 1}):
            openids.append(doc["_id"])
    return openids


async def count_followers(db: Db, query: dict[str, Any]) -> int:
    """Subscribed followers matching `query` (the estimate an editor confirms before sending)."""
    return await db.followers.count_documents({**query, "subscribed": True})


async def count_linked_members(db: Db, orgs: Sequence[str], member_nos: Sequence[str] | None) -> int:
    """Bound members of `orgs` whose mini-program user is linked to a follower (an estimate: a
    linked follower may have left since)."""
    query: dict[str, Any] = {"member_id": {"$exists": True}, "follower_openid": {"$exists": True, "$ne": ""}}
    query["org_path"] = {"$in": list(orgs)}
    if member_nos:
        query["member_id"] = {"$in": list(member_nos)}
    return await db.mini_users.count_documents(query)
