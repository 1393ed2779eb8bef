"""The MongoDB side of learning: collections, indexes and the journaled writes.

- `learning_courses`: the course definitions (org, org_path, status, units ...).
- `learning_progress`: one document per learner and unit, `_id` = `<course>:<unit>:<openid>`, written
  behind from Redis (version-guarded) and at once when a unit is done.
- `learning_enrollments`: one per learner and course (`<course>:<openid>`): the learner's org path at
  start, the units done, `completed_at` and the certificate number once passed.
- `learning_quiz`: one per learner and quiz unit: attempts used (the guard), scores, answers.
- `learning_certificates`: `_id` = the certificate number (unique by construction), `key` unique too.
- `learning_credits`: the ledger, one entry per learner and passed course, with the year.
- `learning_counters`: the certificate sequence per year.
Every write that acknowledges something to a learner waits for the journal (j=True).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from storage.batching import durable
from storage.indexes import ensure_index
from storage.reads import for_reports

Db = Any


def _c(db: Db, name: str) -> Any:
    return durable(db.get_collection(name))


async def ensure_indexes(db: Db) -> None:
    await ensure_index(db.learning_courses, [("org_path", ASCENDING), ("created_at", DESCENDING)])
    await ensure_index(db.learning_courses, [("status", ASCENDING), ("org", ASCENDING)])
    await ensure_index(db.learning_progress, [("course", ASCENDING), ("unit", ASCENDING)])
    await ensure_index(db.learning_enrollments, [("course", ASCENDING), ("org_path", ASCENDING)])
    await ensure_index(db.learning_enrollments, [("openid", ASCENDING), ("started_at", DESCENDING)])
    await ensure_index(db.learning_certificates, [("key", ASCENDING)], unique=True)
    await ensure_index(db.learning_credits, [("org_path", ASCENDING), ("year", ASCENDING)])
    await ensure_index(db.learning_credits, [("openid", ASCENDING), ("year", ASCENDING)])


# courses


async def insert_course(db: Db, doc: dict[str, Any]) -> None:
    await _c(db, "learning_courses").insert_one(doc)


async def get_course(db: Db, course_id: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await db.learning_courses.find_one({"_id": course_id})
    return doc


async def update_course(
    db: Db, course_id: str, guard: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await _c(db, "learning_courses").find_one_and_update(
        {"_id": course_id, **guard}, {"$set": changes}, return_document=ReturnDocument.AFTER
    )
    return doc


async def courses_for_editor(db: Db, org: str, limit: int = 200) -> list[dict[str, Any]]:
    cursor = db.learning_courses.find({"org_path": org}, {"units.bank": 0, "units.key": 0, "units.body": 0})
    found: list[dict[str, Any]] = await cursor.sort("created_at", DESCENDING).limit(limit).to_list()
    return found


async def courses_by_id(db: Db, ids: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await db.learning_courses.find({"_id": {"$in": ids}}, {"title": 1}).to_list()
    return found


async def published_courses(db: Db, query: dict[str, Any], after_id: str, limit: int) -> list[dict[str, Any]]:
    q = {**query, "status": "published"}
    if after_id:
        q["_id"] = {"$lt": after_id}
    cursor = db.learning_courses.find(q, {"units.bank": 0, "units.key": 0, "units.body": 0})
    found: list[dict[str, Any]] = await cursor.sort("_id", DESCENDING).limit(limit).to_list()
    return found


# progress


def progress_id(course: str, unit: str, openid: str) -> str:
    return f"{course}:{unit}:{openid}"


async def write_progress(db: Db, rows: list[dict[str, Any]]) -> None:
    """Store each unit's latest state unless MongoDB already holds that version or a newer one.

    New documents go in by one insert_many (upserts cost several times more on the embedded server);
    the ones already there are updated, guarded by their version so a late batch never goes back.
    """
    if not rows:
        return
    docs = [{"_id": progress_id(r["course"], r["unit"], r["openid"]), **r} for r in rows]
    coll = _c(db, "learning_progress")
    existing: list[dict[str, Any]] = []
    try:
        await coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors):
            raise
        existing = [docs[e["index"]] for e in errors]
    if existing:
        ops = [UpdateOne({"_id": d["_id"], "v": {"$lt": d["v"]}}, {"$set": {k: v for k, v in d.items() if k != "_id"}})
               for d in existing]  # fmt: skip
        await coll.bulk_write(ops, ordered=False)


async def get_progress(db: Db, course: str, unit: str, openid: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await db.learning_progress.find_one({"_id": progress_id(course, unit, openid)})
    return doc


async def my_progress(db: Db, course: str, openid: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await db.learning_progress.find({"course": course, "openid": openid}).to_list()
    return found


async def unit_funnel(db: Db, course: str) -> dict[str, tuple[int, int]]:
    """unit -> (started, done)."""
    pipeline = [
        {"$match": {"course": course}},
        {
            "$group": {
                "_id": "$unit",
                "started": {"$sum": 1},
                "done": {"$sum": {"$cond": [{"$gt": ["$done_ms", 0]}, 1, 0]}},
            }
        },
    ]
    return {r["_id"]: (r["started"], r["done"]) async for r in await db.learning_progress.aggregate(pipeline)}


async def anomalies(db: Db, course: str, min_refused: int, min_skipped: int, limit: int) -> list[dict[str, Any]]:
    """Learners whose players claimed much more than they could have watched, or beat far too often."""
    query = {"course": course, "$or": [{"refused_s": {"$gte": min_refused}}, {"skipped": {"$gte": min_skipped}}]}
    cursor = db.learning_progress.find(query, {"segs": 0}).sort("refused_s", DESCENDING).limit(limit)
    found: list[dict[str, Any]] = await cursor.to_list()
    return found


async def quiz_takers(db: Db, course: str) -> dict[str, int]:
    """unit -> learners who submitted at least one attempt."""
    pipeline = [{"$match": {"course": course}}, {"$group": {"_id": "$unit", "n": {"$sum": 1}}}]
    return {r["_id"]: r["n"] async for r in await db.learning_quiz.aggregate(pipeline)}


async def quiz_participation(db: Db, course: str, unit: str, group_field: str, org: str) -> list[dict[str, Any]]:
    """Per org one level below `org`: workers who took the quiz, and who passed (a campaign's ranking)."""
    pipeline = [
        {"$match": {"course": course, "unit": unit, "org_path": org}},
        {"$group": {"_id": f"${group_field}", "took": {"$sum": 1},
                    "passed": {"$sum": {"$cond": ["$passed", 1, 0]}}}},
    ]  # fmt: skip
    rows = [r async for r in await db.learning_quiz.aggregate(pipeline)]
    return sorted(rows, key=lambda r: (-r["took"], str(r["_id"])))


# enrollments


async def enroll(db: Db, course: str, openid: str, fields: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = await _c(db, "learning_enrollments").find_one_and_update(
        {"_id": f"{course}:{openid}"},
        {"$setOnInsert": {"course": course, "openid": openid, "units_done": [], **fields}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    return doc


async def get_enrollment(db: Db, course: str, openid: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await db.learning_enrollments.find_one({"_id": f"{course}:{openid}"})
    return doc


async def add_unit_done(db: Db, course: str, openid: str, unit: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await _c(db, "learning_enrollments").find_one_and_update(
        {"_id": f"{course}:{openid}"}, {"$addToSet": {"units_done": unit}}, return_document=ReturnDocument.AFTER
    )
    return doc


async def complete(db: Db, course: str, openid: str, required: list[str], at: datetime, number: str) -> bool:
    """Mark the course passed with this certificate number, once: only while not completed and all done."""
    res = await _c(db, "learning_enrollments").update_one(
        {"_id": f"{course}:{openid}", "completed_at": None, "units_done": {"$all": required}},
        {"$set": {"completed_at": at, "certificate": number}},
    )
    return bool(res.modified_count)


async def units_done_counts(db: Db, course: str) -> dict[str, int]:
    pipeline = [{"$match": {"course": course}}, {"$unwind": "$units_done"},
                {"$group": {"_id": "$units_done", "n": {"$sum": 1}}}]  # fmt: skip
    return {r["_id"]: r["n"] async for r in await db.learning_enrollments.aggregate(pipeline)}


async def count_enrolled(db: Db, course: str) -> int:
    return int(await db.learning_enrollments.count_documents({"course": course}))


async def my_enrollments(db: Db, openid: str, limit: int = 100) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        await db.learning_enrollments.find({"openid": openid}).sort("started_at", DESCENDING).limit(limit).to_list()
    )
    return found


async def completion_by(db: Db, course: str | None, org_path_field: str, org: str) -> list[dict[str, Any]]:
    """Enrolled and completed counts of `org`'s subtree, grouped by `org_path_field` (the next level)."""
    match: dict[str, Any] = {"org_path": org}
    if course:
        match["course"] = course
    pipeline = [
        {"$match": match},
        {"$group": {"_id": f"${org_path_field}", "enrolled": {"$sum": 1},
                    "completed": {"$sum": {"$cond": [{"$ifNull": ["$completed_at", False]}, 1, 0]}}}},
        {"$sort": {"_id": 1}},
    ]  # fmt: skip
    return [r async for r in await db.learning_enrollments.aggregate(pipeline)]


# certificates and credits


async def next_number(db: Db, year: int) -> int:
    doc = await _c(db, "learning_counters").find_one_and_update(
        {"_id": f"cert:{year}"}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    return int(doc["seq"])


async def insert_certificate(db: Db, doc: dict[str, Any]) -> None:
    with contextlib.suppress(DuplicateKeyError):  # a retry of the same completion: the first write stands
        await _c(db, "learning_certificates").insert_one(doc)


async def get_certificate(db: Db, number: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await db.learning_certificates.find_one({"_id": number})
    return doc


async def insert_credit(db: Db, doc: dict[str, Any]) -> None:
    with contextlib.suppress(DuplicateKeyError):
        await _c(db, "learning_credits").insert_one(doc)


async def my_credits(db: Db, openid: str, year: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        await db.learning_credits.find({"openid": openid, "year": year}).sort("at", 1).to_list()
    )
    return found


async def ledger(db: Db, org: str, year: int) -> AsyncIterator[dict[str, Any]]:
    """Per learner and year within `org`'s subtree: total credit hours and courses passed."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"org_path": org, "year": year}},
        {"$group": {"_id": "$openid", "member_id": {"$first": "$member_id"}, "name": {"$first": "$name"},
                    "org": {"$first": "$org"}, "hours": {"$sum": "$credit_hours"}, "courses": {"$sum": 1}}},
        {"$sort": {"org": 1, "member_id": 1}},
    ]  # fmt: skip
    async for row in await for_reports(db.learning_credits).aggregate(pipeline):  # a report: a secondary may serve it
        yield row


# quizzes


async def get_quiz(db: Db, course: str, unit: str, openid: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await db.learning_quiz.find_one({"_id": f"{course}:{unit}:{openid}"})
    return doc


async def take_attempt(
    db: Db, course: str, unit: str, openid: str, n: int, attempt: dict[str, Any], passed: bool, org_path: list[str]
) -> bool:
    """Record attempt `n` only if exactly n-1 were used and none passed: one guarded update (or the insert of #1)."""
    qid = f"{course}:{unit}:{openid}"
    coll = _c(db, "learning_quiz")
    try:
        res = await coll.update_one(
            {"_id": qid, "used": n - 1, "passed": False},
            {
                "$set": {"used": n, "passed": passed, "course": course, "unit": unit, "org_path": org_path},
                "$push": {"attempts": attempt},
            },
            upsert=(n == 1),
        )
    except DuplicateKeyError:
        return False  # attempt 1 raced another attempt 1 (or the doc moved on): not this one
    return bool(res.modified_count or res.upserted_id)
