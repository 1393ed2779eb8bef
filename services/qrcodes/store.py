"""Parametric QR codes editors created (`qrcodes`): what each carries and where its image is.

qrcodes: {_id: "qr<hex>", kind: "org" | "checkin", target (org code / activity id), scene ("org:370100"),
          title, org, org_path, permanent: bool, ticket, url (the code's content), expires_at | null,
          created_by, created_at}
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

Db = AsyncDatabase[dict[str, Any]]


async def ensure_indexes(db: Db) -> None:
    await db.qrcodes.create_index([("org_path", ASCENDING), ("created_at", DESCENDING)])
    await db.qrcodes.create_index([("scene", ASCENDING), ("created_at", DESCENDING)])


async def insert(db: Db, doc: dict[str, Any]) -> None:
    await db.qrcodes.insert_one(doc)


async def get(db: Db, qr_id: str) -> dict[str, Any] | None:
    return await db.qrcodes.find_one({"_id": qr_id})


async def reusable(db: Db, scene: str, valid_after: datetime) -> dict[str, Any] | None:
    """A code of this scene that is permanent or still valid after `valid_after` (no need for a new one)."""
    query = {"scene": scene, "$or": [{"permanent": True}, {"expires_at": {"$gt": valid_after}}]}
    return await db.qrcodes.find_one(query, sort=[("created_at", DESCENDING)])


async def list_in(db: Db, org: str, limit: int = 200) -> list[dict[str, Any]]:
    return await db.qrcodes.find({"org_path": org}).sort("created_at", DESCENDING).limit(limit).to_list()
