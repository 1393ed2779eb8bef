"""Sign-ups in MongoDB (`signups`): the durable copy of the Redis state, plus reminder bookkeeping.

`{_id: "<activity>-<seq>", activity_id, session_id, openid, member_id, org, unionid, status:
confirmed|waitlisted|cancelled, seq, form, created_at, updated_at, promoted_at, cancelled_at,
checked_in_at, checkin_via, v, remind_at, reminder: pending|skipped|sending|sent|refused|failed|missed,
reminder_at}`; `signup_notices`: one `{_id: "<sign-up>:<kind>", signup_id, activity_id, openid, kind,
outcome, at}` per confirmation sent (kind confirmed|promoted), written in batches by the notifier.

Writes are idempotent and ordered by the version `v`: a write applies only over an older version, so
two flushers (or a replay after a crash) can never move a sign-up back in time. Fields the flusher owns
are set on every write; the reminder fields are set on insert and then owned by the reminder job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from core.clock import from_timestamp
from storage.batching import durable, in_groups

Db = AsyncDatabase[dict[str, Any]]
TIME_FIELDS = ("created_at", "updated_at", "promoted_at", "cancelled_at", "checked_in_at")


async def ensure_indexes(db: Db) -> None:
    await db.signups.create_index([("activity_id", ASCENDING), ("seq", ASCENDING)])
    await db.signups.create_index([("openid", ASCENDING), ("created_at", DESCENDING)])
    await db.signups.create_index([("reminder", ASCENDING), ("remind_at", ASCENDING)])
    await db.signup_notices.create_index([("activity_id", ASCENDING), ("kind", ASCENDING)])


def _dt(ms: int | None) -> datetime | None:
    return from_timestamp(ms / 1000) if ms else None


def _ms(dt: datetime | None) -> int | None:
    return int(dt.timestamp() * 1000) if dt else None


def doc_from_state(s: dict[str, Any]) -> dict[str, Any]:
    """The MongoDB fields owned by the Redis state (everything but the reminder bookkeeping)."""
    doc: dict[str, Any] = {
        "activity_id": s["aid"], "session_id": s["sid"], "openid": s["uid"], "status": s["status"],
        "seq": s["seq"], "v": s["v"], "form": s["form"], "checkin_via": s.get("checkin_via") or None,
        "member_id": s.get("member_id") or None, "org": s.get("org") or None, "unionid": s.get("unionid") or None,
    }  # fmt: skip
    for key in TIME_FIELDS:
        doc[key] = _dt(s.get(key))
    return doc


def state_from_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """The Redis hash fields of a stored sign-up (to rebuild lost state)."""
    s: dict[str, Any] = {
        "id": doc["_id"], "aid": doc["activity_id"], "sid": doc["session_id"], "uid": doc["openid"],
        "status": doc["status"], "seq": doc["seq"], "v": doc["v"], "fv": doc["v"], "form": doc.get("form") or {},
        "checkin_via": doc.get("checkin_via"), "member_id": doc.get("member_id"), "org": doc.get("org"),
        "unionid": doc.get("unionid"), "remind_at": _ms(doc.get("remind_at")),
    }  # fmt: skip
    for key in TIME_FIELDS:
        s[key] = _ms(doc.get(key))
    return s


async def write_states(db: Db, states: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Write a batch of sign-up states; returns (id, version) of each one now stored at that version or newer.

    Never-flushed sign-ups go in by insert_many (fast, batched); an insert that finds the document there
    already (a previous flush crashed before its ack) falls back to the version-guarded update.
    """
    fresh = [s for s in states if not s.get("fv")]
    updates = [s for s in states if s.get("fv")]
    if fresh:
        docs = []
        for s in fresh:
            doc = {"_id": s["id"], **doc_from_state(s), "remind_at": _dt(s.get("remind_at"))}
            doc["reminder"] = "pending" if s.get("remind_at") else "skipped"
            docs.append(doc)
        try:
            await durable(db.signups).insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            updates += [fresh[e["index"]] for e in errors]
    if updates:
        ops = [UpdateOne({"_id": s["id"], "v": {"$lt": s["v"]}}, {"$set": doc_from_state(s)}) for s in updates]
        await durable(db.signups).bulk_write(ops, ordered=False)
    return [(s["id"], s["v"]) for s in states]


async def for_activity(db: Db, activity_id: str) -> list[dict[str, Any]]:
    return await db.signups.find({"activity_id": activity_id}).sort("seq", ASCENDING).to_list()


async def get(db: Db, signup_id: str) -> dict[str, Any] | None:
    return await db.signups.find_one({"_id": signup_id})


async def of_user(db: Db, openid: str, limit: int, before_ms: int | None = None) -> list[dict[str, Any]]:
    """The user's sign-ups, newest first (created at or before `before_ms` when given)."""
    query: dict[str, Any] = {"openid": openid}
    if before_ms is not None:
        query["created_at"] = {"$lte": _dt(before_ms)}
    cursor = db.signups.find(query).sort("created_at", DESCENDING)
    return await cursor.limit(limit).to_list()


async def count_by_status(db: Db, activity_id: str) -> dict[str, int]:
    out: dict[str, int] = {}
    async for doc in db.signups.find({"activity_id": activity_id}, {"status": 1}):
        out[doc["status"]] = out.get(doc["status"], 0) + 1
    return out


# --- reminders ----------------------------------------------------------------------------------
async def claim_reminder(db: Db, now: datetime, claimer: str) -> dict[str, Any] | None:
    """Take one due reminder for sending: the guarded update means no two instances take the same one."""
    return await durable(db.signups).find_one_and_update(
        {"reminder": "pending", "remind_at": {"$lte": now}, "status": "confirmed"},
        {"$set": {"reminder": "sending", "reminder_at": now, "reminder_by": claimer}},
        sort=[("remind_at", ASCENDING)],
        return_document=ReturnDocument.AFTER,
    )


async def finish_reminder(db: Db, signup_id: str, outcome: str, at: datetime, detail: str = "") -> None:
    changes: dict[str, Any] = {"reminder": outcome, "reminder_at": at}
    if detail:
        changes["reminder_error"] = detail
    await durable(db.signups).update_one({"_id": signup_id, "reminder": "sending"}, {"$set": changes})


async def retry_reminder(db: Db, signup_id: str, remind_at: datetime, attempts: int) -> None:
    """A reminder WeChat provably did not deliver: pending again, due at `remind_at`."""
    await durable(db.signups).update_one(
        {"_id": signup_id, "reminder": "sending"},
        {"$set": {"reminder": "pending", "remind_at": remind_at, "reminder_attempts": attempts}},
    )


async def reschedule_reminders(db: Db, activity_id: str, session_id: str, remind_at: datetime | None) -> int:
    """Move the not-yet-sent reminders of a session to `remind_at` (None: no reminder any more)."""
    changes: dict[str, Any] = {"remind_at": remind_at, "reminder": "pending"} if remind_at else {"reminder": "skipped"}
    res = await db.signups.update_many(
        {"activity_id": activity_id, "session_id": session_id, "reminder": {"$in": ["pending", "skipped"]}},
        {"$set": changes},
    )
    return int(res.modified_count)


async def abandon_stale_reminders(db: Db, before: datetime) -> int:
    """Claims older than `before` died with their instance mid-send: give up (at most once, on purpose)."""
    res = await db.signups.update_many(
        {"reminder": "sending", "reminder_at": {"$lt": before}}, {"$set": {"reminder": "unknown"}}
    )
    return int(res.modified_count)


async def record_notices(db: Db, rows: list[dict[str, Any]]) -> None:
    """Outcomes of a batch of confirmations, in one write; a row already there (a replay) is kept."""
    if not rows:
        return
    try:
        await durable(db.signup_notices).insert_many(rows, ordered=False)
    except BulkWriteError as exc:
        if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise


async def notices_of(db: Db, signup_id: str) -> dict[str, str]:
    return {d["kind"]: d["outcome"] async for d in db.signup_notices.find({"signup_id": signup_id})}


async def stream_for_activity(
    db: Db, activity_id: str, limit: int | None = None, batch: int = 500
) -> AsyncIterator[list[dict[str, Any]]]:
    """An activity's sign-ups in arrival order, in batches (exports of any size)."""
    cursor = db.signups.find({"activity_id": activity_id}, batch_size=batch).sort("seq", 1)
    if limit:
        cursor = cursor.limit(limit)
    async for chunk in in_groups(aiter(cursor), batch):
        yield chunk
