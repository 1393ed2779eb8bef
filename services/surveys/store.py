"""Surveys (问卷): definitions, responses, and drafts.

- `surveys`: `{_id, org, title, description, questions, opens_at, closes_at, max_responses_per_user,
  anonymous, members_only, status: draft|published|closed, created_at, updated_at, created_by}`.
- `survey_responses`: `{_id: ObjectId string (time-ordered), survey_id, respondent, slot, answers,
  submitted_at, member_id?, org?, org_path?}`. `respondent` is the openid, or for an anonymous survey a
  keyed hash of it (so the per-user limit holds while the answers carry no identity). The unique index
  (survey_id, respondent, slot) IS the per-user limit: a user's k-th response takes slot k-1, and only
  slots 0..limit-1 exist, so two racing submits cannot both take the last slot.
- Drafts live in Redis (`mp:sv:draft:<survey>:<openid>`, AOF-persisted, expiring with the survey).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from storage.batching import durable
from storage.reads import for_reports

Db = AsyncDatabase[dict[str, Any]]
DRAFT_TTL_SECONDS = 30 * 24 * 3600


async def ensure_indexes(db: Db) -> None:
    await db.surveys.create_index([("status", ASCENDING), ("org", ASCENDING), ("opens_at", DESCENDING)])
    await db.surveys.create_index([("org_path", ASCENDING), ("created_at", DESCENDING)])
    await db.survey_responses.create_index(
        [("survey_id", ASCENDING), ("respondent", ASCENDING), ("slot", ASCENDING)], unique=True, name="one_per_slot"
    )
    await db.survey_responses.create_index([("survey_id", ASCENDING), ("_id", ASCENDING)])


# --- definitions --------------------------------------------------------------------------------
async def insert(db: Db, doc: dict[str, Any]) -> None:
    await durable(db.surveys).insert_one(doc)


async def get(db: Db, survey_id: str) -> dict[str, Any] | None:
    return await db.surveys.find_one({"_id": survey_id})


async def update(db: Db, survey_id: str, changes: dict[str, Any], *, expect_status: list[str]) -> dict[str, Any] | None:
    """Apply `changes` only while the survey's status is one of `expect_status` (guards edit races)."""
    return await durable(db.surveys).find_one_and_update(
        {"_id": survey_id, "status": {"$in": expect_status}}, {"$set": changes}, return_document=ReturnDocument.AFTER
    )


async def delete_draft_survey(db: Db, survey_id: str) -> bool:
    return (await durable(db.surveys).delete_one({"_id": survey_id, "status": "draft"})).deleted_count == 1


async def list_published(
    db: Db, visible: dict[str, Any], *, limit: int, before: datetime | None
) -> list[dict[str, Any]]:
    """Published (or closed) surveys matching the `visible` query fragment, newest first by opening time."""
    query: dict[str, Any] = {"status": {"$in": ["published", "closed"]}, **visible}
    if before is not None:
        query["opens_at"] = {"$lt": before}
    cursor = db.surveys.find(query, {"questions": 0}).sort([("opens_at", DESCENDING), ("_id", DESCENDING)])
    return await cursor.limit(limit).to_list()


async def list_managed(db: Db, managed: dict[str, Any], limit: int = 200) -> list[dict[str, Any]]:
    """Editors' list: surveys matching the `managed` query fragment (an org subtree), newest first."""
    return await db.surveys.find(managed, {"questions": 0}).sort("created_at", DESCENDING).limit(limit).to_list()


# --- responses ----------------------------------------------------------------------------------
def new_response_id() -> str:
    return str(ObjectId())


async def insert_response(db: Db, doc: dict[str, Any]) -> str:
    """Insert one response; "slot" when the (survey, respondent, slot) slot is taken, "id" when the
    response id exists already (a replayed submit), "" when inserted."""
    try:
        await durable(db.survey_responses).insert_one(doc)
    except DuplicateKeyError as exc:
        key = (exc.details or {}).get("keyPattern") or {}
        return "slot" if "slot" in key or "one_per_slot" in str(exc) else "id"
    return ""


async def get_response(db: Db, response_id: str) -> dict[str, Any] | None:
    return await db.survey_responses.find_one({"_id": response_id})


async def count_responses(db: Db, survey_id: str, respondent: str | None = None) -> int:
    query: dict[str, Any] = {"survey_id": survey_id}
    if respondent is not None:
        query["respondent"] = respondent
    return await db.survey_responses.count_documents(query)


async def responses_of(db: Db, survey_id: str, respondent: str, limit: int = 100) -> list[dict[str, Any]]:
    cursor = db.survey_responses.find({"survey_id": survey_id, "respondent": respondent}).sort("_id", ASCENDING)
    return await cursor.limit(limit).to_list()


async def counts_for(db: Db, pairs: list[tuple[str, str]]) -> dict[str, int]:
    """How many responses each (survey, respondent) pair has: one query for a whole list page."""
    if not pairs:
        return {}
    query = {"$or": [{"survey_id": s, "respondent": r} for s, r in pairs]}
    out: dict[str, int] = {}
    async for doc in db.survey_responses.find(query, {"survey_id": 1}):
        out[doc["survey_id"]] = out.get(doc["survey_id"], 0) + 1
    return out


async def iter_answers(db: Db, survey_id: str, batch: int = 2000) -> AsyncIterator[dict[str, Any]]:
    """Every response's answers, streamed in batches (results are computed in one pass)."""
    async for doc in db.survey_responses.find({"survey_id": survey_id}, {"answers": 1, "_id": 0}, batch_size=batch):
        yield doc.get("answers") or {}


async def text_answers(db: Db, survey_id: str, qid: str, after: str | None, limit: int) -> list[dict[str, Any]]:
    query: dict[str, Any] = {"survey_id": survey_id, f"answers.{qid}": {"$exists": True}}
    if after:
        query["_id"] = {"$gt": after}
    cursor = db.survey_responses.find(query, {f"answers.{qid}": 1, "submitted_at": 1}).sort("_id", ASCENDING)
    return await cursor.limit(limit).to_list()


# --- drafts (Redis) -----------------------------------------------------------------------------
def _draft_key(survey_id: str, openid: str) -> str:
    return f"mp:sv:draft:{survey_id}:{openid}"


async def save_draft(redis: aioredis.Redis, survey_id: str, openid: str, draft: dict[str, Any], ttl: int) -> None:
    await redis.set(_draft_key(survey_id, openid), json.dumps(draft, ensure_ascii=False, default=str), ex=max(ttl, 60))


async def load_draft(redis: aioredis.Redis, survey_id: str, openid: str) -> dict[str, Any] | None:
    raw = await redis.get(_draft_key(survey_id, openid))
    return json.loads(raw) if raw else None


async def delete_draft(redis: aioredis.Redis, survey_id: str, openid: str) -> None:
    await redis.delete(_draft_key(survey_id, openid))


async def has_draft(redis: aioredis.Redis, survey_id: str, openid: str) -> bool:
    return bool(await redis.exists(_draft_key(survey_id, openid)))


async def results_cache_get(redis: aioredis.Redis, survey_id: str) -> dict[str, Any] | None:
    raw = await redis.get(f"mp:sv:results:{survey_id}")
    return json.loads(raw) if raw else None


async def results_cache_put(redis: aioredis.Redis, survey_id: str, results: dict[str, Any], ttl: int) -> None:
    await redis.set(f"mp:sv:results:{survey_id}", json.dumps(results, ensure_ascii=False, default=str), ex=ttl)


async def stream_responses(db: Db, survey_id: str, fields: dict[str, int]) -> AsyncIterator[dict[str, Any]]:
    """A survey's responses in submission order (exports of any size)."""
    # An export: a secondary may serve it (the results page counts on the primary: it caches what it saw).
    responses = for_reports(db.survey_responses)
    async for doc in responses.find({"survey_id": survey_id}, fields, batch_size=1000).sort("_id", 1):
        yield doc
