"""Pushes (`pushes`) and uploaded openid lists (`push_uploads`).

    pushes: {_id: push id, org, org_path, title, channel, content, message, audience, schedule,
             status, version, armed: bool, current_run?, runs: int, last_error?,
             created_by, created_at, updated_by, updated_at}

A push is data: what to send, to whom, when. `content` is what the editor wrote (the console edits
it), `message` the same normalised into the shape WeChat's API takes (the sender uses it). `armed`
marks pushes the scheduler leader must hold an APScheduler job for (a future time or a
recurrence); `version` changes on every edit so the leader can tell a stale job from a current
one. Every state change is a guarded `find_one_and_update` (expected status in the filter), so two
editors or two instances cannot both win a transition.

    push_uploads: {_id: "<upload id>:<page>", upload, page, openids: [...<=1000], created_at}
                  plus a header {_id: "<upload id>", count, pages, org, org_path, by, created_at}
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from core.clock import now
from storage.batching import durable

Db = AsyncDatabase[dict[str, Any]]
UPLOAD_PAGE = 1000


async def ensure_indexes(db: Db) -> None:
    await db.pushes.create_index([("org_path", ASCENDING), ("created_at", DESCENDING)])
    await db.pushes.create_index([("armed", ASCENDING)])
    await db.pushes.create_index([("status", ASCENDING)])


async def insert(db: Db, doc: dict[str, Any]) -> None:
    await durable(db.pushes).insert_one(doc)


async def get(db: Db, push_id: str) -> dict[str, Any] | None:
    return await db.pushes.find_one({"_id": push_id})


async def list_visible(
    db: Db, scope: str, *, status: str | None = None, limit: int = 50, skip: int = 0
) -> list[dict[str, Any]]:
    query: dict[str, Any] = {"org_path": scope}
    if status:
        query["status"] = status
    cursor = db.pushes.find(query).sort("created_at", DESCENDING).skip(skip).limit(limit)
    return await cursor.to_list()


async def transition(
    db: Db,
    push_id: str,
    expect: Sequence[str] | None,
    changes: dict[str, Any],
    *,
    version: int | None = None,
    inc: dict[str, int] | None = None,
) -> dict[str, Any] | None:
    """Apply `changes` only while the push is in one of `expect` (and at `version`); returns the new doc."""
    query: dict[str, Any] = {"_id": push_id}
    if expect is not None:
        query["status"] = {"$in": list(expect)}
    if version is not None:
        query["version"] = version
    update: dict[str, Any] = {"$set": {**changes, "updated_at": now()}}
    if inc:
        update["$inc"] = inc
    return await durable(db.pushes).find_one_and_update(query, update, return_document=ReturnDocument.AFTER)


async def armed(db: Db) -> list[dict[str, Any]]:
    """Pushes the scheduler leader must hold a job for (few: future and recurring ones)."""
    fields = {"schedule": 1, "version": 1, "status": 1}
    return await db.pushes.find({"armed": True}, fields).to_list()


async def started_without_run(db: Db) -> list[dict[str, Any]]:
    """Pushes marked running that point at no run (normally for a few milliseconds only)."""
    return await db.pushes.find({"status": "running", "current_run": None}).to_list()


# --- uploaded openid lists ---------------------------------------------------------------------
async def save_upload(
    db: Db, upload_id: str, openids: Sequence[str], *, org: str, org_path: Sequence[str], by: str
) -> int:
    at = now()
    pages = [openids[i : i + UPLOAD_PAGE] for i in range(0, len(openids), UPLOAD_PAGE)]
    docs = [
        {"_id": f"{upload_id}:{n:05d}", "upload": upload_id, "page": n, "openids": list(page), "created_at": at}
        for n, page in enumerate(pages)
    ]
    if docs:
        await db.push_uploads.insert_many(docs, ordered=True)
    header = {"_id": upload_id, "count": len(openids), "pages": len(pages), "org": org,
              "org_path": list(org_path), "by": by, "created_at": at}  # fmt: skip
    await db.push_uploads.insert_one(header)  # last: a header means the pages are all there
    return len(pages)


async def get_upload(db: Db, upload_id: str) -> dict[str, Any] | None:
    if ":" in upload_id:
        return None
    return await db.push_uploads.find_one({"_id": upload_id})


async def upload_pages(db: Db, upload_id: str, pages: int, start: int = 0) -> AsyncIterator[tuple[int, list[str]]]:
    """(page number, openids) from `start`, one point lookup each."""
    for n in range(start, pages):
        doc = await db.push_uploads.find_one({"_id": f"{upload_id}:{n:05d}"})
        yield n, list(doc["openids"]) if doc else []


def dedupe(openids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(openids))
