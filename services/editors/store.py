"""Editors' accounts (`editors`): who may use the console, with which role, over which org subtree.

    editors: {_id: username (lower case), name, role: admin|editor|viewer, org, org_path: [province..org],
              password_hash (argon2id), disabled: bool, created_at, created_by, updated_at, updated_by,
              password_changed_at, last_login_at?, last_login_ip?}

The username is the `_id`, so "one account per username" is the unique primary key, not a check.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from core.clock import now

Db = AsyncDatabase[dict[str, Any]]


async def ensure_indexes(db: Db) -> None:
    await db.editors.create_index([("org_path", ASCENDING), ("_id", ASCENDING)])


async def insert(db: Db, doc: dict[str, Any]) -> bool:
    """False when the username is taken."""
    try:
        await db.editors.insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def get(db: Db, username: str) -> dict[str, Any] | None:
    return await db.editors.find_one({"_id": username})


async def update(
    db: Db, username: str, changes: dict[str, Any], *, guard: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Set `changes` while the account still matches `guard`; returns the account after, or None."""
    return await db.editors.find_one_and_update(
        {"_id": username, **(guard or {})},
        {"$set": {**changes, "updated_at": now()}},
        return_document=ReturnDocument.AFTER,
    )


async def record_login(db: Db, username: str, ip: str) -> None:
    await db.editors.update_one({"_id": username}, {"$set": {"last_login_at": now(), "last_login_ip": ip}})


async def list_in(db: Db, org: str, limit: int = 500) -> list[dict[str, Any]]:
    """Accounts whose org lies in `org`'s subtree, by username (no password hashes)."""
    cursor = db.editors.find({"org_path": org}, {"password_hash": 0}).sort("_id", ASCENDING).limit(limit)
    return await cursor.to_list()


async def count(db: Db) -> int:
    return await db.editors.count_documents({})
