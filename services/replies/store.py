"""What the official account says, per org: keyword rules, welcome, default reply, menu-click replies.

One collection, `bot_content`, so the bot loads everything in one query and editors (the console,
later) edit one kind of document:

    {_id, org: "370000", kind: "keyword" | "welcome" | "default" | "click",
     name: "投票",                                   # label for editors
     match: "exact" | "prefix" | "contains" | "regex", patterns: ["投票"], priority: 100,  # keyword
     key: "MENU_VOTE",                               # click
     reply: {type: "text", text: "<jinja2 template>"} | {type: "news", articles: [...]}
            | {type: "image", media_id} | {type: "transfer", kf_account?},
     enabled: true, updated_at, updated_by}

Every write bumps a version in Redis and publishes it, so each process reloads its in-memory
copy at once (and a periodic version check catches a missed publish).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from core.clock import now
from storage import invalidation

Db = AsyncDatabase[dict[str, Any]]

KINDS = ("keyword", "welcome", "default", "click")
MATCHES = ("exact", "prefix", "contains", "regex")
SPACE = "content"  # the bot content's space in storage.invalidation (one version for the whole account)


async def ensure_indexes(db: Db) -> None:
    await db.bot_content.create_index([("org", ASCENDING), ("kind", ASCENDING)])


async def all_enabled(db: Db) -> list[dict[str, Any]]:
    return [d async for d in db.bot_content.find({"enabled": {"$ne": False}})]


async def get(db: Db, doc_id: str) -> dict[str, Any] | None:
    return await db.bot_content.find_one({"_id": doc_id})


async def upsert(db: Db, doc: dict[str, Any], updated_by: str = "") -> None:
    fields = {k: v for k, v in doc.items() if k != "_id"}
    fields |= {"updated_at": now(), "updated_by": updated_by}
    await db.bot_content.update_one({"_id": doc["_id"]}, {"$set": fields}, upsert=True)


async def delete(db: Db, doc_id: str) -> bool:
    return (await db.bot_content.delete_one({"_id": doc_id})).deleted_count > 0


async def seed(db: Db, docs: list[dict[str, Any]]) -> int:
    """Insert seed documents where missing; an editor's version always wins."""
    stamped = [{**d, "updated_at": now(), "updated_by": "seed"} for d in docs]
    ops = [UpdateOne({"_id": d["_id"]}, {"$setOnInsert": d}, upsert=True) for d in stamped]
    if not ops:
        return 0
    result = await db.bot_content.bulk_write(ops, ordered=False)
    return result.upserted_count


async def version(redis: aioredis.Redis) -> int:
    return await invalidation.version(redis, SPACE)


async def bump_version(redis: aioredis.Redis) -> int:
    """After a write: every process's bot reloads (storage.invalidation: pub/sub + version poll)."""
    return await invalidation.changed(redis, SPACE)


async def of_org(db: Db, org: str) -> list[dict[str, Any]]:
    """One org's own documents (rules, welcome, default, click answers), enabled or not."""
    return [d async for d in db.bot_content.find({"org": org})]


async def clicks_along(db: Db, org_path: list[str]) -> list[dict[str, Any]]:
    """Menu-click replies of the orgs on a path (the menu page lists what each button answers)."""
    return [d async for d in db.bot_content.find({"kind": "click", "org": {"$in": org_path}})]
