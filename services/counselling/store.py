"""The MongoDB side of counselling: with store_desk.py, the only code that knows its collections.

- `counselling_counsellors` `{_id: username, name, org, org_path, intro, on_duty, rules: [{weekday,
  start, end}], slot_minutes, updated_at}`: a counsellor's profile and weekly availability.
- `counselling_slots` `{_id: "<username>:<YYYYmmddHHMM>", counsellor, org, org_path, starts_at, ends_at,
  state: open|held|booked|closed, booking_id?, hold_expires?}`: generated from the availability.
  Every state change is one guarded update on the slot (the filter says which state it must be in).
- `counselling_bookings` `{_id, slot_id, counsellor, member (pseudonym), member_org, member_org_path,
  starts_at, ends_at, status, active_member?, hold_expires?, topic, urgent, contact_kind, contact_sealed,
  notify, created_at, ...}`. `active_member` is set only while the booking is held, pending approval or
  confirmed and not over: a unique partial index on it is the one-active-booking-per-member rule.
- `counselling_quota` `{_id: "<member>:<YYYY-MM>", ids: [booking ids], month_end}`: the monthly cap,
  decided by one guarded upsert (at most `limit` ids; a booking already in it is not counted twice).
- `counselling_members` `{_id: member, no_shows, last_at}`: two no-shows make the next booking need approval.
- `counselling_notices` `{_id: "<booking>:<kind>", booking_id, kind, due, state, to_sealed}`: subscribe messages.
- `counselling_alerts`: crisis alerts for the on-duty counsellors (alerts.py).
Counsellors, bind codes, notices and alerts are read and written in store_desk.py.
Writes that acknowledge something to a worker are journaled (j=True).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from storage.batching import durable
from storage.reads import for_reports

Db = AsyncDatabase[dict[str, Any]]
Doc = dict[str, Any]
ACTIVE_STATUSES = ("held", "pending_approval", "confirmed")


def _c(db: Db, name: str) -> AsyncCollection[Doc]:
    return durable(db.get_collection(f"counselling_{name}"))


async def ensure_indexes(db: Db) -> None:
    await _c(db, "counsellors").create_index([("org_path", ASCENDING)])
    await _c(db, "counsellors").create_index(
        [("bind_code", ASCENDING)], unique=True, partialFilterExpression={"bind_code": {"$exists": True}}
    )
    slots = _c(db, "slots")
    await slots.create_index([("counsellor", ASCENDING), ("starts_at", ASCENDING)])
    await slots.create_index([("org_path", ASCENDING), ("starts_at", ASCENDING)])
    await slots.create_index([("state", ASCENDING), ("hold_expires", ASCENDING)])
    bookings = _c(db, "bookings")
    await bookings.create_index(
        [("active_member", ASCENDING)], unique=True, partialFilterExpression={"active_member": {"$exists": True}}
    )
    await bookings.create_index([("member", ASCENDING), ("starts_at", DESCENDING)])
    await bookings.create_index([("counsellor", ASCENDING), ("starts_at", ASCENDING)])
    await bookings.create_index([("status", ASCENDING), ("ends_at", ASCENDING)])
    await bookings.create_index([("member_org_path", ASCENDING), ("starts_at", ASCENDING)])
    await _c(db, "notices").create_index([("state", ASCENDING), ("due", ASCENDING)])
    await _c(db, "alerts").create_index([("org_path", ASCENDING), ("at", DESCENDING)])


# --- slots ------------------------------------------------------------------------------------
async def slot_states(db: Db, counsellor: str, after: datetime) -> dict[str, str]:
    flt = {"counsellor": counsellor, "starts_at": {"$gt": after}}
    return {d["_id"]: d["state"] async for d in _c(db, "slots").find(flt, {"state": 1})}


async def insert_slots(db: Db, docs: list[Doc]) -> int:
    """New slots, inserted open; one already there (another instance was quicker) is left as it is."""
    if not docs:
        return 0
    try:
        return len((await _c(db, "slots").insert_many(docs, ordered=False)).inserted_ids)
    except BulkWriteError as exc:
        if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise
        return int(exc.details.get("nInserted", 0))


async def move_slots(db: Db, ids: list[str], from_state: str, to_state: str) -> int:
    """Availability changes: open <-> closed, guarded, so a slot held or booked meanwhile stays so."""
    if not ids:
        return 0
    flt = {"_id": {"$in": ids}, "state": from_state}
    return (await _c(db, "slots").update_many(flt, {"$set": {"state": to_state}})).modified_count


def _free(at: datetime) -> Doc:
    """A slot anyone may hold at `at`: open, or held with an expired hold."""
    return {"$or": [{"state": "open"}, {"state": "held", "hold_expires": {"$lte": at}}]}


async def hold_slot(
    db: Db, slot_id: str, org_path: tuple[str, ...], booking_id: str, at: datetime, until: datetime
) -> Doc | None:
    """THE guarded update: the slot goes from free to held by `booking_id`, or nothing happens.

    Returns the slot as it was before (its `booking_id` names an expired hold that was taken over)."""
    flt = {"_id": slot_id, "org": {"$in": list(org_path)}, "starts_at": {"$gt": at}, **_free(at)}
    update = {"$set": {"state": "held", "booking_id": booking_id, "hold_expires": until}}
    return await _c(db, "slots").find_one_and_update(flt, update, return_document=ReturnDocument.BEFORE)


async def get_slot(db: Db, slot_id: str) -> Doc | None:
    return await _c(db, "slots").find_one({"_id": slot_id})


async def release_slot(db: Db, slot_id: str, booking_id: str, states: tuple[str, ...], to: str = "open") -> bool:
    flt = {"_id": slot_id, "booking_id": booking_id, "state": {"$in": list(states)}}
    update: Doc = {"$set": {"state": to}}
    if to == "open":
        update["$unset"] = {"booking_id": "", "hold_expires": ""}
    return (await _c(db, "slots").update_one(flt, update)).modified_count == 1


async def book_slot(db: Db, slot_id: str, booking_id: str, at: datetime) -> bool:
    """Held -> booked, only by the hold's booking and only before the hold expires."""
    flt = {"_id": slot_id, "state": "held", "booking_id": booking_id, "hold_expires": {"$gt": at}}
    update = {"$set": {"state": "booked"}, "$unset": {"hold_expires": ""}}
    return (await _c(db, "slots").update_one(flt, update)).modified_count == 1


async def next_expired_hold(db: Db, at: datetime) -> Doc | None:
    """Frees one expired hold (guarded on the expiry it saw); the sweeper calls it until None."""
    flt = {"state": "held", "hold_expires": {"$lte": at}}
    update = {"$set": {"state": "open"}, "$unset": {"booking_id": "", "hold_expires": ""}}
    return await _c(db, "slots").find_one_and_update(flt, update, return_document=ReturnDocument.BEFORE)


async def free_slots(
    db: Db, counsellors: list[str], at: datetime, until: datetime, after: tuple[datetime, str] | None, limit: int
) -> list[Doc]:
    flt: Doc = {"counsellor": {"$in": counsellors}, "starts_at": {"$gt": at, "$lte": until}, **_free(at)}
    if after is not None:
        flt = {
            "$and": [
                flt,
                {"$or": [{"starts_at": {"$gt": after[0]}}, {"starts_at": after[0], "_id": {"$gt": after[1]}}]},
            ]
        }
    cursor = _c(db, "slots").find(flt).sort([("starts_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
    return await cursor.to_list(limit)


async def slots_of(db: Db, counsellor: str, since: datetime, until: datetime) -> list[Doc]:
    flt = {"counsellor": counsellor, "starts_at": {"$gte": since, "$lt": until}}
    return await _c(db, "slots").find(flt).sort("starts_at", ASCENDING).to_list(2000)


# --- bookings ---------------------------------------------------------------------------------
async def insert_booking(db: Db, doc: Doc) -> bool:
    """False when the member already has an active booking (the unique index decides)."""
    try:
        await _c(db, "bookings").insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def get_booking(db: Db, booking_id: str) -> Doc | None:
    return await _c(db, "bookings").find_one({"_id": booking_id})


async def active_booking(db: Db, member: str) -> Doc | None:
    return await _c(db, "bookings").find_one({"active_member": member})


async def update_booking(db: Db, booking_id: str, guard: Doc, set_: Doc, unset: tuple[str, ...] = ()) -> Doc | None:
    update: Doc = {"$set": set_}
    if unset:
        update["$unset"] = dict.fromkeys(unset, "")
    flt = {"_id": booking_id, **guard}
    return await _c(db, "bookings").find_one_and_update(flt, update, return_document=ReturnDocument.AFTER)


async def bookings_of_member(db: Db, member: str, before: tuple[datetime, str] | None, limit: int) -> list[Doc]:
    flt: Doc = {"member": member, "status": {"$nin": ["released", "expired"]}}
    if before is not None:
        flt["$or"] = [{"starts_at": {"$lt": before[0]}}, {"starts_at": before[0], "_id": {"$lt": before[1]}}]
    cursor = _c(db, "bookings").find(flt).sort([("starts_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
    return await cursor.to_list(limit)


async def bookings_of_counsellor(db: Db, counsellor: str, since: datetime, statuses: tuple[str, ...]) -> list[Doc]:
    flt = {"counsellor": counsellor, "ends_at": {"$gte": since}, "status": {"$in": list(statuses)}}
    return await _c(db, "bookings").find(flt).sort("starts_at", ASCENDING).to_list(2000)


async def finished_active(db: Db, at: datetime) -> int:
    """Bookings whose session is over stop blocking their member's next booking."""
    flt = {"active_member": {"$exists": True}, "status": {"$ne": "held"}, "ends_at": {"$lte": at}}
    return (await _c(db, "bookings").update_many(flt, {"$unset": {"active_member": ""}})).modified_count


async def stale_holds(db: Db, at: datetime) -> list[Doc]:
    flt = {"status": "held", "hold_expires": {"$lte": at}}
    return await _c(db, "bookings").find(flt, {"slot_id": 1, "hold_expires": 1}).to_list(500)


async def report_source(db: Db, org: str, since: datetime, until: datetime) -> AsyncIterator[Doc]:
    """Bookings of members in `org`'s subtree, only the fields a report counts."""
    flt = {
        "member_org_path": org,
        "starts_at": {"$gte": since, "$lt": until},
        "status": {"$nin": ["held", "released", "expired"]},
    }
    fields = {"member": 1, "member_org_path": 1, "starts_at": 1, "status": 1, "_id": 0}
    async for doc in for_reports(_c(db, "bookings")).find(flt, fields):  # a report: a secondary may serve it
        yield doc


# --- monthly quota and no-shows ----------------------------------------------------------------
async def quota_add(db: Db, member: str, month: str, booking_id: str, limit: int, month_end: datetime) -> bool:
    """One guarded upsert: the booking joins the month's list if it has fewer than `limit` (or is in it)."""
    flt = {"_id": f"{member}:{month}", "$or": [{f"ids.{limit - 1}": {"$exists": False}}, {"ids": booking_id}]}
    update = {"$addToSet": {"ids": booking_id}, "$setOnInsert": {"month_end": month_end}}
    try:
        await _c(db, "quota").update_one(flt, update, upsert=True)
    except DuplicateKeyError:
        return False  # the month's document exists and is full: the upsert tried to insert a second one
    return True


async def quota_remove(db: Db, member: str, month: str, booking_id: str) -> None:
    await _c(db, "quota").update_one({"_id": f"{member}:{month}"}, {"$pull": {"ids": booking_id}})


async def member_record(db: Db, member: str) -> Doc:
    return await _c(db, "members").find_one({"_id": member}) or {"_id": member, "no_shows": 0}


async def add_no_show(db: Db, member: str, at: datetime) -> None:
    await _c(db, "members").update_one({"_id": member}, {"$inc": {"no_shows": 1}, "$set": {"last_at": at}}, upsert=True)


async def clear_no_shows(db: Db, member: str, at: datetime) -> None:
    await _c(db, "members").update_one({"_id": member}, {"$set": {"no_shows": 0, "last_at": at}})


# --- purge ------------------------------------------------------------------------------------
async def purge_before(db: Db, cutoff: datetime) -> dict[str, int]:
    """Everything about sessions that ended before `cutoff` (180 days ago): bookings, slots, notices, quotas."""
    gone = {}
    old = [d["_id"] async for d in _c(db, "bookings").find({"ends_at": {"$lt": cutoff}}, {"_id": 1})]
    gone["notices"] = (await _c(db, "notices").delete_many({"booking_id": {"$in": old}})).deleted_count
    gone["bookings"] = (await _c(db, "bookings").delete_many({"_id": {"$in": old}})).deleted_count
    gone["slots"] = (await _c(db, "slots").delete_many({"ends_at": {"$lt": cutoff}})).deleted_count
    gone["quota"] = (await _c(db, "quota").delete_many({"month_end": {"$lt": cutoff}})).deleted_count
    gone["members"] = (await _c(db, "members").delete_many({"last_at": {"$lt": cutoff}})).deleted_count
    gone["alerts"] = (await _c(db, "alerts").delete_many({"at": {"$lt": cutoff}})).deleted_count
    return gone
