"""The MongoDB side of consultation: cases (with their event logs), desks and business calendars.

Collections: `consult_cases`, `consult_desks`, `consult_calendars`. The only module that knows
them. A case's state and its event log change together in one guarded `find_one_and_update`
(the state must still be one the action may start from), written with j=True: an answer the
console acknowledged is on disk before any delivery is tried.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from storage.batching import durable
from storage.indexes import ensure_index

Db = AsyncDatabase[dict[str, Any]]
Doc = dict[str, Any]


def cases(db: Db) -> AsyncCollection[Doc]:
    return durable(db.get_collection("consult_cases"))


def desks(db: Db) -> AsyncCollection[Doc]:
    return durable(db.get_collection("consult_desks"))


def calendars(db: Db) -> AsyncCollection[Doc]:
    return durable(db.get_collection("consult_calendars"))


async def ensure_indexes(db: Db) -> None:
    c = cases(db)
    # At most one open case per person and category: `open_slot` exists only while the case is open.
    await ensure_index(
        c, [("open_slot", ASCENDING)], unique=True, partialFilterExpression={"open_slot": {"$exists": True}}
    )
    await ensure_index(c, [("idem", ASCENDING)], unique=True, partialFilterExpression={"idem": {"$exists": True}})
    await ensure_index(c, [("persons", ASCENDING), ("opened_at", DESCENDING)])
    await ensure_index(c, [("desk", ASCENDING), ("state", ASCENDING), ("opened_at", ASCENDING)])
    await ensure_index(c, [("escalated_desk", ASCENDING), ("state", ASCENDING)])
    await ensure_index(c, [("due_at", ASCENDING)])
    await ensure_index(c, [("state", ASCENDING), ("resolved_at", ASCENDING)])
    await ensure_index(c, [("undelivered", ASCENDING)], sparse=True)
    await ensure_index(desks(db), [("org", ASCENDING)])
    await ensure_index(desks(db), [("org_path", ASCENDING)])


class SlotTaken(Exception):
    """The unique open-case index refused a change: the person has another open case of that category."""


def new_id(at: datetime) -> str:
    return at.strftime("%y%m%d") + secrets.token_hex(4).upper()


def new_event_id() -> str:
    return secrets.token_hex(6)


# --- cases -------------------------------------------------------------------------------------
async def insert_case(db: Db, doc: Doc) -> Doc | None:
    """The new case, or None when a unique index refused it (an open case of that category, or
    the same idempotency key: the caller looks up which)."""
    try:
        await cases(db).insert_one(doc)
    except DuplicateKeyError:
        return None
    return doc


async def by_idem(db: Db, idem: str) -> Doc | None:
    return await cases(db).find_one({"idem": idem})


async def get_case(db: Db, case_id: str) -> Doc | None:
    return await cases(db).find_one({"_id": case_id})


async def open_case_of(db: Db, slot: str) -> Doc | None:
    return await cases(db).find_one({"open_slot": slot}, {"_id": 1, "state": 1})


async def transition(
    db: Db,
    case_id: str,
    from_states: Sequence[str],
    event: Doc,
    set_fields: Doc,
    unset: Sequence[str] = (),
    extra_filter: Doc | None = None,
) -> Doc | None:
    """Append `event` and apply the change iff the case is still in one of `from_states`.

    An event with text for the worker is also listed in `undelivered` until its delivery is
    recorded, so an answer whose sending was interrupted (a crash) is found and sent again.
    """
    update: Doc = {"$push": {"events": event}, "$set": {**set_fields, "updated_at": event["at"]}}
    if unset:
        update["$unset"] = dict.fromkeys(unset, "")
    if event.get("text") and event.get("by") not in ("worker", "system"):
        update["$addToSet"] = {"undelivered": event["id"]}
    flt: Doc = {"_id": case_id, "state": {"$in": list(from_states)}, **(extra_filter or {})}
    try:
        return await cases(db).find_one_and_update(flt, update, return_document=ReturnDocument.AFTER)
    except DuplicateKeyError:
        raise SlotTaken(case_id) from None


async def set_delivery(db: Db, case_id: str, event_id: str, delivery: Doc) -> None:
    await cases(db).update_one(
        {"_id": case_id, "events.id": event_id},
        {"$set": {"events.$.delivery": delivery}, "$pull": {"undelivered": event_id}},
    )


async def with_undelivered(db: Db, limit: int = 200) -> list[Doc]:
    return [d async for d in cases(db).find({"undelivered.0": {"$exists": True}}).limit(limit)]


async def claim_undelivered(db: Db, case_id: str, event_id: str) -> bool:
    """One recoverer takes an interrupted answer (guarded: it must still be listed)."""
    res = await cases(db).update_one({"_id": case_id, "undelivered": event_id}, {"$pull": {"undelivered": event_id}})
    return res.modified_count == 1


async def set_fields(db: Db, case_id: str, fields: Doc, guard: Doc | None = None) -> Doc | None:
    return await cases(db).find_one_and_update(
        {"_id": case_id, **(guard or {})}, {"$set": fields}, return_document=ReturnDocument.AFTER
    )


async def mine(
    db: Db, persons: Sequence[str], limit: int, before: datetime | None, states: Sequence[str] = ()
) -> list[Doc]:
    flt: Doc = {"persons": {"$in": list(persons)}}
    if states:
        flt["state"] = {"$in": list(states)}
    if before is not None:
        flt["opened_at"] = {"$lt": before}
    cur = cases(db).find(flt, {"events": 0}).sort("opened_at", DESCENDING).limit(limit)
    return [d async for d in cur]


async def queue(db: Db, desk_ids: Sequence[str], states: Sequence[str], limit: int = 500) -> list[Doc]:
    flt = {"$or": [{"desk": {"$in": list(desk_ids)}}, {"escalated_desk": {"$in": list(desk_ids)}}],
           "state": {"$in": list(states)}}  # fmt: skip
    return [d async for d in cases(db).find(flt).sort("opened_at", ASCENDING).limit(limit)]


async def due_before(db: Db, at: datetime, limit: int = 500) -> list[Doc]:
    """Open cases whose cached due time passed and that have not been escalated yet."""
    flt = {"due_at": {"$lte": at}, "escalated_desk": {"$exists": False}, "open_slot": {"$exists": True}}
    return [d async for d in cases(db).find(flt).limit(limit)]


async def resolved_before(db: Db, at: datetime, limit: int = 500) -> list[Doc]:
    return [d async for d in cases(db).find({"state": "resolved", "resolved_at": {"$lte": at}}).limit(limit)]


async def in_desks(db: Db, desk_ids: Sequence[str], since: datetime, until: datetime) -> list[Doc]:
    flt = {"desk": {"$in": list(desk_ids)}, "opened_at": {"$gte": since, "$lt": until}}
    proj = {"_id": 1, "category": 1, "desk": 1, "events.kind": 1, "events.at": 1, "events.by": 1}
    return [d async for d in cases(db).find(flt, proj)]


# --- desks and calendars -------------------------------------------------------------------------
async def desks_on_path(db: Db, path: Sequence[str]) -> list[Doc]:
    return [d async for d in desks(db).find({"org": {"$in": list(path)}, "disabled": {"$ne": True}})]


async def desks_in(db: Db, org: str) -> list[Doc]:
    return [d async for d in desks(db).find({"org_path": org}).sort("org_path", ASCENDING)]


async def get_desk(db: Db, desk_id: str) -> Doc | None:
    return await desks(db).find_one({"_id": desk_id})


async def put_desk(db: Db, doc: Doc) -> Doc | None:
    """Replace (or create) a desk; returns the previous version."""
    return await desks(db).find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)


async def seed_desk(db: Db, doc: Doc) -> None:
    await desks(db).update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)


async def calendars_on_path(db: Db, path: Sequence[str]) -> list[Doc]:
    return [d async for d in calendars(db).find({"_id": {"$in": list(path)}})]


async def put_calendar(db: Db, doc: Doc) -> Doc | None:
    return await calendars(db).find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)


async def delete_calendar(db: Db, org: str) -> Doc | None:
    return await calendars(db).find_one_and_delete({"_id": org})


async def forget_follower(db: Db, oa_openid: str) -> int:
    """The worker left the official account: their cases stay (legal-aid records), its openid goes."""
    res = await cases(db).update_many({"oa_openid": oa_openid}, {"$set": {"oa_openid": ""}})
    return int(res.modified_count)
