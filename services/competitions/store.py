"""The MongoDB side of competitions: the only module that knows these collections.

- `competitions`      one per competition (owner org, rubric, rules, status, commendations)
- `comp_entries`      one per entrant org and competition (unique), with its blind code (unique per competition)
- `comp_reports`      stage reports, `_id` = `<entry>:<stage>`
- `comp_news`         stage news an owner posts for participants
- `comp_judges`       `_id` = `<competition>:<username>`: affiliations (org paths) and declared conflicts
- `comp_assignments`  `_id` = `<competition>:<entry>:<judge>`: who scores what
- `comp_scores`       the raw rows, append-only: one per (competition, entry, judge), unique index;
                      written with a journaled write concern (an acknowledged score is on disk)
- `comp_results`      results derived from the rows, `_id` = `<competition>:<entry>`, version-guarded
- `comp_appeals`      `_id` = entry id: one appeal per entry
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from storage.batching import durable
from storage.indexes import ensure_index

Db = AsyncDatabase[dict[str, Any]]
Doc = dict[str, Any]


async def ensure_indexes(db: Db) -> None:
    await ensure_index(db.competitions, [("org_path", ASCENDING), ("_id", DESCENDING)])
    await ensure_index(db.comp_entries, [("competition", ASCENDING), ("org", ASCENDING)], unique=True)
    await ensure_index(db.comp_entries, [("competition", ASCENDING), ("blind_code", ASCENDING)], unique=True)
    await ensure_index(db.comp_entries, [("org", ASCENDING), ("status", ASCENDING)])
    await ensure_index(db.comp_news, [("competition", ASCENDING), ("at", DESCENDING)])
    await ensure_index(db.comp_reports, [("competition", ASCENDING), ("stage", ASCENDING)])
    await ensure_index(db.comp_judges, [("username", ASCENDING)])
    await ensure_index(db.comp_assignments, [("competition", ASCENDING), ("judge", ASCENDING)])
    await ensure_index(db.comp_assignments, [("competition", ASCENDING), ("entry", ASCENDING)])
    await ensure_index(
        db.comp_scores, [("competition", ASCENDING), ("entry", ASCENDING), ("judge", ASCENDING)], unique=True
    )
    await ensure_index(db.comp_results, [("competition", ASCENDING)])
    await ensure_index(db.comp_appeals, [("competition", ASCENDING), ("status", ASCENDING)])


def _scores(db: Db) -> AsyncCollection[Doc]:
    return durable(db.get_collection("comp_scores"))


# --- competitions ---------------------------------------------------------------------------------
async def insert_competition(db: Db, doc: Doc) -> None:
    await db.competitions.insert_one(doc)


async def competition(db: Db, cid: str) -> Doc | None:
    return await db.competitions.find_one({"_id": cid})


async def competitions_under(db: Db, org: str, limit: int = 200) -> list[Doc]:
    return [d async for d in db.competitions.find({"org_path": org}).sort("_id", DESCENDING).limit(limit)]


async def open_for_registration(db: Db, org_path: Sequence[str]) -> list[Doc]:
    """Competitions owned above an org (on its path, not itself) that take registrations now."""
    query = {"org": {"$in": list(org_path[:-1])}, "status": "registration"}
    return [d async for d in db.competitions.find(query).sort("_id", DESCENDING).limit(100)]


async def set_fields(db: Db, cid: str, fields: Doc) -> None:
    await db.competitions.update_one({"_id": cid}, {"$set": fields})


async def move_competition(db: Db, cid: str, from_status: str, changes: Doc) -> Doc | None:
    """Guarded status change: only when the competition is still in `from_status` (one winner)."""
    return await db.competitions.find_one_and_update(
        {"_id": cid, "status": from_status}, {"$set": changes}, return_document=ReturnDocument.AFTER
    )


async def visible_competitions(
    db: Db, ids: Sequence[str], org_path: Sequence[str], before: str, limit: int
) -> list[Doc]:
    """Competitions a worker sees: those their units entered, and published results along their path."""
    query: Doc = {
        "$or": [
            {"_id": {"$in": list(ids)}, "status": {"$ne": "draft"}},
            {"org": {"$in": list(org_path)}, "status": {"$in": ["publicity", "final"]}},
        ]
    }
    if before:
        query = {"$and": [query, {"_id": {"$lt": before}}]}
    return [d async for d in db.competitions.find(query).sort("_id", DESCENDING).limit(limit)]


# --- entries --------------------------------------------------------------------------------------
async def insert_entry(db: Db, doc: Doc) -> bool:
    """False when the key (competition, org) or (competition, blind code) is taken."""
    try:
        await db.comp_entries.insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def entry(db: Db, entry_id: str) -> Doc | None:
    return await db.comp_entries.find_one({"_id": entry_id})


async def entry_by_code(db: Db, cid: str, code: str) -> Doc | None:
    return await db.comp_entries.find_one({"competition": cid, "blind_code": code})


async def entries(db: Db, cid: str, status: str | None = None) -> list[Doc]:
    query: Doc = {"competition": cid}
    if status:
        query["status"] = status
    return [d async for d in db.comp_entries.find(query).sort("_id", ASCENDING)]


async def entry_exists_with_org(db: Db, cid: str, org: str) -> bool:
    return await db.comp_entries.find_one({"competition": cid, "org": org}, {"_id": 1}) is not None


async def entries_recused_by(db: Db, cid: str, judge: str) -> set[str]:
    return {d["_id"] async for d in db.comp_entries.find({"competition": cid, "recused": judge}, {"_id": 1})}


async def move_entry(db: Db, entry_id: str, guard: Doc, changes: Doc) -> Doc | None:
    return await db.comp_entries.find_one_and_update(
        {"_id": entry_id, **guard}, changes, return_document=ReturnDocument.AFTER
    )


async def competitions_entered_by(db: Db, org_path: Sequence[str]) -> list[str]:
    cursor = db.comp_entries.find({"org": {"$in": list(org_path)}, "status": "approved"}, {"competition": 1})
    return sorted({d["competition"] async for d in cursor})


async def entries_of_orgs(db: Db, cid: str, orgs: Sequence[str]) -> list[Doc]:
    return [d async for d in db.comp_entries.find({"competition": cid, "org": {"$in": list(orgs)}})]


# --- stage reports and news -----------------------------------------------------------------------
async def upsert_report(db: Db, report_id: str, doc: Doc) -> Doc | None:
    """Write a report unless it was already accepted (an accepted report is final)."""
    try:
        return await db.comp_reports.find_one_and_update(
            {"_id": report_id, "status": {"$ne": "accepted"}},
            {"$set": doc, "$inc": {"version": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    except DuplicateKeyError:
        return None


async def report(db: Db, report_id: str) -> Doc | None:
    return await db.comp_reports.find_one({"_id": report_id})


async def reports(db: Db, cid: str) -> list[Doc]:
    return [d async for d in db.comp_reports.find({"competition": cid}).sort("_id", ASCENDING)]


async def review_report(db: Db, report_id: str, version: int, changes: Doc) -> Doc | None:
    return await db.comp_reports.find_one_and_update(
        {"_id": report_id, "status": "submitted", "version": version},
        {"$set": changes},
        return_document=ReturnDocument.AFTER,
    )


async def insert_news(db: Db, doc: Doc) -> None:
    await db.comp_news.insert_one(doc)


async def news(db: Db, cid: str, limit: int = 50) -> list[Doc]:
    return [d async for d in db.comp_news.find({"competition": cid}).sort("at", DESCENDING).limit(limit)]


# --- judges and assignments -----------------------------------------------------------------------
async def upsert_judge(db: Db, doc: Doc) -> None:
    await db.comp_judges.replace_one({"_id": doc["_id"]}, doc, upsert=True)


async def add_conflicts(db: Db, cid: str, username: str, keys: Sequence[str]) -> Doc | None:
    return await db.comp_judges.find_one_and_update(
        {"_id": f"{cid}:{username}"},
        {"$addToSet": {"conflicts": {"$each": list(keys)}}},
        return_document=ReturnDocument.AFTER,
    )


async def judges(db: Db, cid: str) -> list[Doc]:
    return [d async for d in db.comp_judges.find({"competition": cid}).sort("_id", ASCENDING)]


async def judge(db: Db, cid: str, username: str) -> Doc | None:
    return await db.comp_judges.find_one({"_id": f"{cid}:{username}"})


async def insert_assignments(db: Db, docs: Sequence[Doc]) -> None:
    """Idempotent: ids are deterministic, so a re-run after a crash skips what is already there."""
    for start in range(0, len(docs), 1000):
        try:
            await db.comp_assignments.insert_many(list(docs[start : start + 1000]), ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise


async def assignments(db: Db, cid: str, *, judge: str | None = None, entry: str | None = None) -> list[Doc]:
    query: Doc = {"competition": cid}
    if judge:
        query["judge"] = judge
    if entry:
        query["entry"] = entry
    return [d async for d in db.comp_assignments.find(query).sort("_id", ASCENDING)]


async def assignment(db: Db, cid: str, entry_id: str, username: str) -> Doc | None:
    return await db.comp_assignments.find_one({"_id": f"{cid}:{entry_id}:{username}"})


async def judged_competitions(db: Db, username: str) -> list[str]:
    return sorted({d["competition"] async for d in db.comp_judges.find({"username": username}, {"competition": 1})})


# --- scores and results ---------------------------------------------------------------------------
async def insert_score(db: Db, doc: Doc) -> bool:
    """The one write of a score: False when this judge already scored this entry (unique index)."""
    try:
        await _scores(db).insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def scores(db: Db, cid: str, entry: str | None = None, judge: str | None = None) -> list[Doc]:
    query: Doc = {"competition": cid}
    if entry:
        query["entry"] = entry
    if judge:
        query["judge"] = judge
    return [d async for d in db.comp_scores.find(query).sort("_id", ASCENDING)]


async def save_result(db: Db, doc: Doc) -> None:
    """Keep the result computed from the most rows: `version` only grows (rows and voids are append-only)."""
    with contextlib.suppress(DuplicateKeyError):  # a newer version is already stored
        await db.comp_results.update_one(
            {"_id": doc["_id"], "version": {"$lt": doc["version"]}}, {"$set": doc}, upsert=True
        )


async def save_results(db: Db, docs: Sequence[Doc]) -> None:
    """Many `save_result`s in one round trip; a duplicate key means a newer version is stored."""
    if not docs:
        return
    ops = [UpdateOne({"_id": d["_id"], "version": {"$lte": d["version"]}}, {"$set": d}, upsert=True) for d in docs]
    try:
        await db.comp_results.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise


async def results(db: Db, cid: str) -> list[Doc]:
    return [d async for d in db.comp_results.find({"competition": cid}).sort("_id", ASCENDING)]


# --- appeals --------------------------------------------------------------------------------------
async def insert_appeal(db: Db, doc: Doc) -> bool:
    try:
        await db.comp_appeals.insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def appeal(db: Db, entry_id: str) -> Doc | None:
    return await db.comp_appeals.find_one({"_id": entry_id})


async def appeals(db: Db, cid: str, status: str | None = None) -> list[Doc]:
    query: Doc = {"competition": cid}
    if status:
        query["status"] = status
    return [d async for d in db.comp_appeals.find(query).sort("_id", ASCENDING)]


async def decide_appeal(db: Db, entry_id: str, changes: Doc) -> Doc | None:
    return await db.comp_appeals.find_one_and_update(
        {"_id": entry_id, "status": "pending"}, {"$set": changes}, return_document=ReturnDocument.AFTER
    )
